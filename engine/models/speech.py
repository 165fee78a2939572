"""Speech to text with openai-whisper, with our own careful audio decoding.

Whisper's ``load_audio`` hands any path to ``ffmpeg``; an uploaded playlist or concat script could
then make ffmpeg read other files. We decode ourselves instead: only the ``file`` protocol, only
plain audio/container demuxers, nothing read but the uploaded file, a hard time limit, and the
ffmpeg binary that ``imageio-ffmpeg`` ships when the system has none.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import torch

from engine.errors import InvalidInputError, ModelUnavailableError, NoSpeechError, brief
from engine.models.devices import resolve_device
from engine.settings import Settings
from engine.types import Transcript

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
ALLOWED_DEMUXERS = "wav,mp3,ogg,flac,matroska,webm,mov,mp4,m4a,aac,aiff,caf"
SUPPORTED = "wav, mp3, m4a, ogg, webm or flac"
FFMPEG_TIMEOUT_S = 60
SILENCE_RMS = 3e-4  # about -70 dBFS: digital silence or a muted microphone
NON_SPEECH = re.compile(r"\[[^\]]*\]|\([^)]*\)|[♪♫*]+")

# Whisper drops a segment when it is probably silence *and* decoded with low confidence; we apply
# the same rule a little more strictly, plus Whisper's repetition (compression) guard, because
# searching for a phrase Whisper invented from noise is worse than asking the shopper to try again.
NO_SPEECH_PROB = 0.5
LOW_CONFIDENCE_LOGPROB = -0.7
MAX_COMPRESSION_RATIO = 2.4
MAX_TOKENS = 128  # per 30 s window: ample for a spoken query, and caps a looping beam search


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
        text, language = self._recognise(samples, "translate" if translate else "transcribe", language)
        if not text:
            raise NoSpeechError("No speech detected in the recording. Please speak clearly and try again.")
        log.info("transcribed %.1f s of %s speech%s: %r", seconds, language, " (trimmed)" if trimmed else "", text)
        return Transcript(text=text, language=language, seconds=seconds, trimmed=trimmed)

    def _recognise(self, samples: np.ndarray, task: str = "transcribe", language: str | None = None) -> tuple[str, str]:
        model = self.model
        language = language or self.settings.whisper_language or (None if model.is_multilingual else "en")
        if not model.is_multilingual:
            language = "en"
        if task == "translate" and not model.is_multilingual:
            task = "transcribe"  # an English-only model already writes English
        with self._run_lock, torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # temperature fallback samples: same clip, same transcript
            result = model.transcribe(
                samples, fp16=False, language=language, task=task, verbose=None, beam_size=5, best_of=5,
                sample_len=MAX_TOKENS,
                temperature=(0.0, 0.2, 0.4, 0.6), condition_on_previous_text=False,
            )  # fmt: skip
        kept = [segment["text"] for segment in result.get("segments", []) if _is_speech(segment)]
        text = " ".join(NON_SPEECH.sub(" ", part).strip() for part in kept)
        text = re.sub(r"\s+", " ", text).strip()
        if not re.search(r"\w", text):
            text = ""
        language = result.get("language") or language or "en"
        if language.startswith("zh") and task == "transcribe":
            text = _simplified(text)  # Whisper often writes Traditional; catalogues are usually Simplified
        return text, language


def _simplified(text: str) -> str:
    import opencc

    return opencc.OpenCC("t2s").convert(text)


def _is_speech(segment: dict) -> bool:
    probably_silence = segment.get("no_speech_prob", 0.0) > NO_SPEECH_PROB
    unsure = segment.get("avg_logprob", 0.0) < LOW_CONFIDENCE_LOGPROB
    repetitive = segment.get("compression_ratio", 0.0) > MAX_COMPRESSION_RATIO
    return not (probably_silence and unsure) and not repetitive
