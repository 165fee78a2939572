"""Speech to text with openai-whisper, with our own careful audio decoding.

Whisper's ``load_audio`` hands any path to ``ffmpeg``; an uploaded playlist or concat script could
then make ffmpeg read other files. We decode ourselves instead: only the ``file`` protocol, only
plain audio/container demuxers, nothing read but the uploaded file, a hard time limit, and the
ffmpeg binary that ``imageio-ffmpeg`` ships when the system has none.

A voice query is short, so recognition is a single 30 s window, done the cheap way first:

- leading and trailing silence are trimmed before the window is padded, so it holds the speech;
- the encoder runs once, and language detection and every decoding attempt share its output
  (``transcribe()`` encodes once to detect the language and again for each decoding attempt);
- the language comes from the caller (the UI's "Spoken language") whenever it is known;
- greedy decoding; one sampled retry only when the greedy text looks wrong (a low average
  log-probability, or repetitive) and Whisper thinks the window holds speech;
- the decoder may write at most a few tokens per second of speech, so a loop stops early.

Weights and arithmetic stay fp32 (``fp16=False``). On CPUs without bf16/fp16 arithmetic (AVX-512
alone is not enough) half precision ran the encoder two to five times slower, and int8 dynamic
quantization of the linear layers, though faster, raised Whisper base's error rates on the spoken
query sets (see ``bench/voice.py`` for the measured speed and accuracy of this path). The one
exception is the decoder's scoring of its vocabulary, estimated in INT8 and exact where a token is
chosen (``SHOPLENS_WHISPER_LOGITS``, :mod:`engine.models.whisper_logits`).
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from engine.errors import InvalidInputError, ModelUnavailableError, NoSpeechError, brief
from engine.models.devices import resolve_device
from engine.models.whisper_logits import shortlist_logits
from engine.models.whisper_steps import (
    decode_features,
    detect_language,
    encode,
    one_clip,
    remember_clip_keys,
    share_cross_attention,
)
from engine.settings import Settings
from engine.types import Transcript

if TYPE_CHECKING:
    from whisper.decoding import DecodingResult

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
WINDOW_SAMPLES = 30 * SAMPLE_RATE  # Whisper's window; a voice query gets one
ALLOWED_DEMUXERS = "wav,mp3,ogg,flac,matroska,webm,mov,mp4,m4a,aac,aiff,caf"
SUPPORTED = "wav, mp3, m4a, ogg, webm or flac"
FFMPEG_TIMEOUT_S = 60
SILENCE_RMS = 3e-4  # about -70 dBFS: digital silence or a muted microphone
NON_SPEECH = re.compile(r"\[[^\]]*\]|\([^)]*\)|[♪♫*]+")

# Silence trimming: 20 ms frames 40 dB below the loudest one are silence; keep a little around speech.
FRAME = SAMPLE_RATE // 50
SILENCE_BELOW_PEAK_DB = 40.0
SPEECH_MARGIN_S = 0.2

# A fitted window (SHOPLENS_WHISPER_WINDOW=fit): the trimmed clip plus this margin, never shorter than MIN_WINDOW_S.
WINDOW_MARGIN_S = 3.0
MIN_WINDOW_S = 15.0
TINY_ENCODER_LAYERS = 4

# Whisper drops a segment when it is probably silence *and* decoded with low confidence; we apply
# the same rule a little more strictly, plus Whisper's repetition (compression) guard, because
# searching for a phrase Whisper invented from noise is worse than asking the shopper to try again.
NO_SPEECH_PROB = 0.5
LOW_CONFIDENCE_LOGPROB = -0.7
MAX_COMPRESSION_RATIO = 2.4
MAX_TOKENS = 128  # per 30 s window: ample for a spoken query, and caps a looping decoder
TOKENS_PER_SECOND = 8  # a shorter clip gets fewer: 16 + 8 a second is ample for fast English or Chinese

# Greedy decoding is retried once, like transcribe()'s temperature fallback but never more, when its
# text looks wrong and Whisper thinks the window holds speech (noise often decodes as a confident
# loop that a retry would only repeat). The retry samples five candidates in one batched decoder
# pass (about 1.6 greedy passes: see whisper_steps) and needs no encoder pass; then whichever of
# the greedy text and the retry's best candidate is likelier is kept (``likelier``).
RETRY_BELOW_LOGPROB = -1.0  # transcribe()'s logprob_threshold
RETRY = {"temperature": 0.4, "best_of": 5}


def ffmpeg_executable() -> str:
    """The system ffmpeg, else the binary that the imageio-ffmpeg wheel ships."""
    system = shutil.which("ffmpeg")
    if system:
        return system
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as error:  # pragma: no cover - install problem
        raise ModelUnavailableError("No ffmpeg found: install ffmpeg or `pip install imageio-ffmpeg`.") from error


class SpeechRecognizer:
    """Decodes an uploaded clip and transcribes it; the Whisper model loads once, on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._model = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    # --- audio ----------------------------------------------------------------------------------
    def decode(self, path: str | Path) -> tuple[np.ndarray, bool]:
        """Mono 16 kHz float32 samples of the clip (at most the configured length) and whether it was cut."""
        path = Path(path)
        self._check_file(path)
        limit = self.settings.max_audio_seconds
        command = [
            ffmpeg_executable(), "-nostdin", "-hide_banner", "-loglevel", "error",
            "-protocol_whitelist", "file", "-format_whitelist", ALLOWED_DEMUXERS,
            "-t", f"{limit + 0.5:.2f}", "-i", f"file:{path.resolve()}",
            "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-",
        ]  # fmt: skip
        try:
            run = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as error:
            raise InvalidInputError("The audio file took too long to decode; try a shorter clip.") from error
        if run.returncode != 0:
            log.info("ffmpeg refused %s: %s", path.name, run.stderr.decode(errors="replace").strip()[-300:])
            raise InvalidInputError(f"This file is not audio we can read. Please upload {SUPPORTED}.")
        samples = np.frombuffer(run.stdout, np.int16).astype(np.float32) / 32768.0
        return self._enforce_length(samples)

    def _check_file(self, path: Path) -> None:
        if not path.is_file():
            raise InvalidInputError("The audio upload did not arrive; please try again.")
        size = path.stat().st_size
        if size == 0:
            raise InvalidInputError("The audio file is empty.")
        if size > self.settings.max_audio_bytes:
            raise InvalidInputError(
                f"The audio file is too large ({size / 1e6:.1f} MB; limit {self.settings.max_audio_bytes / 1e6:.0f} MB)."
            )

    def _enforce_length(self, samples: np.ndarray) -> tuple[np.ndarray, bool]:
        seconds = len(samples) / SAMPLE_RATE
        if seconds < max(self.settings.min_audio_seconds, 0.01):
            raise InvalidInputError(
                f"The recording is too short ({seconds:.2f} s); please say a few words."
                if seconds
                else "The file holds no audio."
            )
        limit = self.settings.max_audio_seconds
        if seconds <= limit + 0.05:
            return samples, False
        if self.settings.long_audio == "refuse":
            raise InvalidInputError(f"The recording is longer than {limit:g} s; please keep voice searches short.")
        return samples[: int(limit * SAMPLE_RATE)], True

    # --- model ----------------------------------------------------------------------------------
    @property
    def model(self):
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        import whisper

        name = self.settings.whisper_model
        device = resolve_device(self.settings.device)
        is_file = Path(name).expanduser().is_file()
        if not is_file and name not in whisper.available_models():
            raise ModelUnavailableError(
                f"Unknown Whisper model '{name}'. Set SHOPLENS_WHISPER_MODEL to one of "
                f"{', '.join(whisper.available_models())} or to a checkpoint file."
            )
        started = time.perf_counter()
        log.info("loading Whisper %s on %s ...", name, device)
        try:
            root = str(self.settings.model_cache_dir) if self.settings.model_cache_dir else None
            model = whisper.load_model(str(Path(name).expanduser()) if is_file else name, device=device, download_root=root)
        except Exception as error:  # network, disk or format: one clear line for the operator
            raise ModelUnavailableError(
                f"Could not load Whisper model '{name}' ({brief(error)}). "
                "If this machine cannot download it, set SHOPLENS_WHISPER_MODEL to a local checkpoint (.pt)."
            ) from error
        share_cross_attention(model)  # a sampled retry's candidates read the clip once
        remember_clip_keys(model)  # ... and detection, greedy and retry project it once
        if self.settings.whisper_logits == "shortlist":
            shortlist_logits(model, threads=torch.get_num_threads())
        log.info("Whisper %s ready in %.1f s (%s)", name, time.perf_counter() - started,
                 "multilingual" if model.is_multilingual else "English only")  # fmt: skip
        return model

    def warm_up(self) -> None:
        """Load the model and run it once, so the first voice search pays nothing extra."""
        self._recognise(np.zeros(SAMPLE_RATE, dtype=np.float32))

    # --- recognition ----------------------------------------------------------------------------
    def transcribe(self, path: str | Path, *, translate: bool = False, language: str | None = None) -> Transcript:
        """The words spoken in the clip; ``translate`` turns any language into English text.

        ``language`` (e.g. ``zh``) skips Whisper's language detection, which short clips can fool.
        """
        samples, trimmed = self.decode(path)
        seconds = len(samples) / SAMPLE_RATE
        if float(np.sqrt(np.mean(samples**2))) < SILENCE_RMS:
            raise NoSpeechError("No speech detected: the recording is silent. Check the microphone and try again.")
        speech = trim_silence(samples)
        if len(speech) > WINDOW_SAMPLES:  # only when SHOPLENS_MAX_AUDIO_SECONDS allows more than a window
            speech, trimmed = speech[:WINDOW_SAMPLES], True
        text, language = self._recognise(speech, "translate" if translate else "transcribe", language)
        if not text:
            raise NoSpeechError("No speech detected in the recording. Please speak clearly and try again.")
        log.info("transcribed %.1f s of %s speech%s: %r", seconds, language, " (trimmed)" if trimmed else "", text)
        return Transcript(text=text, language=language, seconds=seconds, trimmed=trimmed)

    def _recognise(self, samples: np.ndarray, task: str = "transcribe", language: str | None = None) -> tuple[str, str]:
        """(text, language) of one window of speech; the text is empty when Whisper heard none."""
        model = self.model
        if not model.is_multilingual:
            language, task = "en", "transcribe"  # an English-only model writes English either way
        language = language or self.settings.whisper_language
        with self._run_lock, torch.inference_mode(), torch.random.fork_rng(devices=[]), one_clip(model):
            torch.manual_seed(0)  # the sampled retry: same clip, same transcript
            features = self._encode(samples, fit=fits_window(self.settings.whisper_window, model.dims))
            language = language or detect_language(model, features)
            result = self._decode(features, language, task, token_budget(len(samples) / SAMPLE_RATE))
        text = _clean(result.text) if _is_speech(result) else ""
        if language.startswith("zh") and task == "transcribe":
            text = simplified(text)  # Whisper often writes Traditional; catalogues are usually Simplified
        return text, language

    def _encode(self, samples: np.ndarray, *, fit: bool) -> torch.Tensor:
        """The encoder's output for one window: the only encoder pass a clip gets.

        The window is built as ``transcribe()`` builds it: the clip's frames, then zeros in the
        log-Mel domain (not silent audio, which reads differently and costs accuracy). ``fit``
        shortens the window from 30 s to the clip plus a margin (:func:`window_frames`), and the
        encoder reads only that many positions (as whisper.cpp's ``audio_ctx`` does): its cost
        falls with the window: about half for a query of up to 12 s.
        """
        import whisper
        from whisper.audio import HOP_LENGTH, N_FRAMES, N_SAMPLES

        audio = torch.from_numpy(samples).to(self.model.device)
        mel = whisper.log_mel_spectrogram(audio, self.model.dims.n_mels, padding=N_SAMPLES)
        frames = len(samples) // HOP_LENGTH
        window = whisper.pad_or_trim(mel[:, :frames], window_frames(frames) if fit else N_FRAMES)
        return encode(self.model.encoder, window.unsqueeze(0))

    def _decode(self, features: torch.Tensor, language: str, task: str, max_tokens: int) -> DecodingResult:
        """Greedy first; one sampled retry when the greedy text looks wrong (never more), and the
        likelier of the two kept (:func:`likelier`).

        Timestamp tokens stay, as in ``transcribe()``: decoding without them saved a few decoder
        steps but raised the error rate on all three spoken query sets.
        """
        import whisper

        options = whisper.DecodingOptions(task=task, language=language, sample_len=max_tokens, fp16=False)
        result = decode_features(self.model, features, options)
        if _needs_retry(result):
            result = likelier(result, decode_features(self.model, features, replace(options, **RETRY)))
        return result


def fits_window(setting: str, dims) -> bool:
    """Whether a clip gets a window fitted to it (SHOPLENS_WHISPER_WINDOW), for detecting its language too.

    ``auto`` fits it for models deeper than tiny's 4 encoder layers: on the spoken query sets a
    fitted window left Whisper base no less accurate (English WER 0.180 -> 0.171, Chinese CER
    0.715 -> 0.559; the language of all 25 English clips detected either way, of 3 of the 12 espeak
    Mandarin clips instead of none), but cost tiny.en words (WER 0.157 -> 0.175).
    """
    return setting == "fit" or (setting == "auto" and dims.n_audio_layer > TINY_ENCODER_LAYERS)


def window_frames(frames: int) -> int:
    """Mel frames of a window fitted to a clip of ``frames``: the clip, a margin, at least MIN_WINDOW_S, even."""
    from whisper.audio import FRAMES_PER_SECOND, N_FRAMES

    wanted = max(frames + int(WINDOW_MARGIN_S * FRAMES_PER_SECOND), int(MIN_WINDOW_S * FRAMES_PER_SECOND))
    return min(N_FRAMES, wanted + wanted % 2)  # the encoder's second convolution halves it


def trim_silence(samples: np.ndarray) -> np.ndarray:
    """The samples from the first to the last loud 20 ms frame, with a short margin either side.

    A frame is silent when it is quieter than SILENCE_RMS or 40 dB below the loudest frame; a clip
    without a loud frame is returned whole.
    """
    frames = samples[: len(samples) // FRAME * FRAME].reshape(-1, FRAME)
    loudness = np.sqrt(np.mean(frames**2, axis=1))
    if not len(loudness):
        return samples
    threshold = max(SILENCE_RMS, float(loudness.max()) * 10 ** (-SILENCE_BELOW_PEAK_DB / 20))
    loud = np.flatnonzero(loudness > threshold)
    if not len(loud):
        return samples
    margin = int(SPEECH_MARGIN_S * SAMPLE_RATE)
    return samples[max(loud[0] * FRAME - margin, 0) : (loud[-1] + 1) * FRAME + margin]


def token_budget(seconds: float) -> int:
    """The most tokens a clip of this many seconds of speech may decode to."""
    return min(MAX_TOKENS, 16 + math.ceil(TOKENS_PER_SECOND * seconds))


def _clean(text: str) -> str:
    """The words alone: no "[Music]", "(laughs)" or note symbols; empty when no word is left."""
    text = re.sub(r"\s+", " ", NON_SPEECH.sub(" ", text)).strip()
    return text if re.search(r"\w", text) else ""


def simplified(text: str) -> str:
    """Chinese text in Simplified characters."""
    import opencc

    return opencc.OpenCC("t2s").convert(text)


def _is_silence(result: DecodingResult) -> bool:
    return result.no_speech_prob > NO_SPEECH_PROB and result.avg_logprob < LOW_CONFIDENCE_LOGPROB


def _loops(result: DecodingResult) -> bool:
    return result.compression_ratio > MAX_COMPRESSION_RATIO or result.avg_logprob == -math.inf


def _is_speech(result: DecodingResult) -> bool:
    return not _is_silence(result) and not _loops(result)


def _needs_retry(result: DecodingResult) -> bool:
    unsure = result.avg_logprob < RETRY_BELOW_LOGPROB
    repetitive = result.compression_ratio > MAX_COMPRESSION_RATIO
    return (unsure or repetitive) and result.no_speech_prob <= NO_SPEECH_PROB


def likelier(first: DecodingResult, second: DecodingResult) -> DecodingResult:
    """The attempt with the higher average log-probability among those that do not loop (among both
    when both loop): faster-whisper's rule when every temperature fails. A retry is not always
    better: sampling can wander into a loop the greedy text had not (a retry whose every candidate
    looped, and was stopped, scores minus infinity)."""
    attempts = [r for r in (first, second) if not _loops(r)] or [first, second]
    return max(attempts, key=lambda result: result.avg_logprob)
