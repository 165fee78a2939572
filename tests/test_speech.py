import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.errors import InvalidInputError, ModelUnavailableError, NoSpeechError
from engine.models import speech
from engine.models.speech import (
    MAX_TOKENS,
    RETRY,
    SAMPLE_RATE,
    SPEECH_MARGIN_S,
    SpeechRecognizer,
    token_budget,
    trim_silence,
)
from tests.conftest import ffmpeg

PHRASES = [
    "show me a blue backpack for school",
    "i am looking for a wooden kitchen table",
    "a brown teddy bear",
]


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9 ]", " ", text.lower()).split()


def same_words(heard: str, said: str) -> bool:
    """Word for word, forgiving only where Whisper splits a compound ("back pack")."""
    return "".join(words(heard)) == "".join(words(said))


@pytest.mark.parametrize("phrase", PHRASES)
def test_real_whisper_transcribes_spoken_words(shared_speech, speak, phrase):
    clip = speak(phrase)
    transcript = shared_speech.transcribe(clip)
    assert words(transcript.text) == words(phrase)
    assert transcript.language == "en" and not transcript.trimmed
    assert transcript.seconds == pytest.approx(len(shared_speech.decode(clip)[0]) / SAMPLE_RATE)


@pytest.mark.parametrize("extension", ["mp3", "ogg", "flac", "m4a", "webm"])
def test_compressed_formats_decode_and_transcribe(shared_speech, speak, tmp_path, extension):
    target = tmp_path / f"clip.{extension}"
    ffmpeg("-i", str(speak(PHRASES[0])), str(target))
    assert same_words(shared_speech.transcribe(target).text, PHRASES[0])


def test_decoding_gives_mono_16k_float_samples(shared_speech, speak):
    samples, trimmed = shared_speech.decode(speak("hello"))
    assert samples.dtype == np.float32 and samples.ndim == 1 and not trimmed
    assert 0.01 < float(np.abs(samples).max()) <= 1.0
    assert 0.3 * SAMPLE_RATE < len(samples) < 3 * SAMPLE_RATE


def test_silence_and_noise_say_no_speech_instead_of_guessing(shared_speech, tmp_path):
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "2", str(tmp_path / "silence.wav"))
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=d=3:c=white:a=0.3:seed=1", str(tmp_path / "noise.wav"))
    with pytest.raises(NoSpeechError, match="silent"):
        shared_speech.transcribe(tmp_path / "silence.wav")
    with pytest.raises(NoSpeechError, match="No speech detected"):
        shared_speech.transcribe(tmp_path / "noise.wav")


def test_empty_tiny_and_non_audio_files_are_refused(shared_speech, tmp_path, speak):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("these are not sound waves\n" * 20)
    (tmp_path / "picture.mp3").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2000))
    ffmpeg("-i", str(speak("hello there")), "-t", "0.1", str(tmp_path / "tiny.wav"))
    with pytest.raises(InvalidInputError, match="empty"):
        shared_speech.transcribe(tmp_path / "empty.wav")
    for name in ("notes.wav", "picture.mp3"):
        with pytest.raises(InvalidInputError, match="not audio we can read"):
            shared_speech.transcribe(tmp_path / name)
    with pytest.raises(InvalidInputError, match="too short"):
        shared_speech.transcribe(tmp_path / "tiny.wav")


def test_playlists_cannot_make_ffmpeg_read_other_files(shared_speech, speak, tmp_path):
    real_clip = speak(PHRASES[2])
    (tmp_path / "list.m3u8").write_text(f"#EXTM3U\n#EXTINF:2,\n{real_clip}\n#EXT-X-ENDLIST\n")
    (tmp_path / "list.m3u").write_text(f"#EXTM3U\n{real_clip}\n")
    (tmp_path / "concat.txt").write_text(f"ffconcat version 1.0\nfile '{real_clip}'\n")
    for name in ("list.m3u8", "list.m3u", "concat.txt"):
        with pytest.raises(InvalidInputError, match="not audio we can read"):
            shared_speech.transcribe(tmp_path / name)


LONG_MONOLOGUE = (
    "I need a present for my sister. She likes music and plays the violin every evening. "
    "Maybe a warm scarf would be nice, because winter is coming and her old one is worn out. "
    "My brother wants a football and new running shoes for the summer season. "
    "For the kitchen we could use a teapot, four mugs and a sharp bread knife. "
    "Our garden needs a rake, a bucket and some tulip bulbs before the spring arrives. "
    "Finally, the children asked for a robot, a puzzle cube and a little wooden train set."
)


def test_long_clips_are_trimmed_to_the_limit_or_refused(make_settings, shared_speech, speak):
    long_clip = speak(LONG_MONOLOGUE, rate=150)
    trimming = SpeechRecognizer(make_settings(max_audio_seconds=12))
    trimming._model = shared_speech.model  # share the loaded model; only the limits differ
    samples, trimmed = trimming.decode(long_clip)
    assert trimmed and len(samples) == 12 * SAMPLE_RATE
    transcript = trimming.transcribe(long_clip)
    assert transcript.trimmed and transcript.seconds == pytest.approx(12.0)
    heard = words(transcript.text)
    assert {"present", "sister", "music", "evening"} <= set(heard)  # the start is kept
    assert not {"robot", "puzzle", "train"} & set(heard)  # the end is cut
    refusing = SpeechRecognizer(make_settings(max_audio_seconds=12, long_audio="refuse"))
    with pytest.raises(InvalidInputError, match="longer than 12 s"):
        refusing.decode(long_clip)
    default = shared_speech.decode(long_clip)  # the default limit is 30 s; this clip lasts 33 s
    assert default[1] and len(default[0]) == 30 * SAMPLE_RATE


def test_oversized_upload_is_refused_before_decoding(make_settings, speak):
    recognizer = SpeechRecognizer(make_settings(max_audio_bytes=1000))
    with pytest.raises(InvalidInputError, match="too large"):
        recognizer.decode(speak("hello"))


def test_unknown_whisper_model_names_the_setting(make_settings):
    recognizer = SpeechRecognizer(make_settings(whisper_model="enormous-v9"))
    with pytest.raises(ModelUnavailableError, match="SHOPLENS_WHISPER_MODEL"):
        _ = recognizer.model


def test_converted_checkpoint_has_tiny_en_dimensions(whisper_checkpoint):
    import torch

    dims = torch.load(whisper_checkpoint, weights_only=False)["dims"]
    assert dims == {
        "n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 384, "n_audio_head": 6, "n_audio_layer": 4,
        "n_vocab": 51864, "n_text_ctx": 448, "n_text_state": 384, "n_text_head": 6, "n_text_layer": 4,
    }  # fmt: skip


# --- the fast path: one window, one encoder pass, greedy first ----------------------------------
@contextmanager
def forward_calls(module: torch.nn.Module) -> Iterator[list[int]]:
    """A list that grows by one entry for each forward pass of ``module``."""
    calls: list[int] = []
    handle = module.register_forward_hook(lambda *_: calls.append(1))
    try:
        yield calls
    finally:
        handle.remove()


def spy_decode(model, monkeypatch, change: Callable = lambda result: result) -> list:
    """The options of every decoding attempt on ``model``; ``change`` alters each result it returns."""
    seen = []
    real = speech.decode_features

    def decode(decoded_model, features, options):
        if decoded_model is model:
            seen.append(options)
            return change(real(decoded_model, features, options))
        return real(decoded_model, features, options)

    monkeypatch.setattr(speech, "decode_features", decode)
    return seen


@pytest.mark.parametrize("language, detections", [(None, 1), ("zh", 0)])
def test_language_detection_and_decoding_share_one_encoder_pass(random_multilingual, speak, monkeypatch,
                                                                language, detections):  # fmt: skip
    model, given = random_multilingual.model, []
    detect = speech.detect_language

    def detect_language(detected_model, features):
        given.append(features.shape[-2:])
        return detect(detected_model, features)

    monkeypatch.setattr(speech, "detect_language", detect_language)
    attempts = spy_decode(model, monkeypatch)
    samples = random_multilingual.decode(speak(PHRASES[0]))[0]
    with forward_calls(model.encoder.conv1) as encoder_passes:
        random_multilingual._recognise(samples, language=language)
    assert len(encoder_passes) == 1 and attempts  # detection and every attempt reuse the encoder's output
    assert given == [(model.dims.n_audio_ctx, model.dims.n_audio_state)] * detections  # tiny: a full window


def test_clear_speech_is_decoded_once_greedily_within_a_token_budget(shared_speech, speak, monkeypatch):
    clip = speak(PHRASES[0])
    seen = spy_decode(shared_speech.model, monkeypatch)
    assert same_words(shared_speech.transcribe(clip).text, PHRASES[0]) and len(seen) == 1
    greedy, speech = seen[0], trim_silence(shared_speech.decode(clip)[0])
    assert greedy.temperature == 0 and greedy.beam_size is None and greedy.best_of is None
    assert greedy.sample_len == token_budget(len(speech) / SAMPLE_RATE) < MAX_TOKENS


@pytest.mark.parametrize("looks, attempts", [
    ({}, 1),  # confident: greedy alone
    ({"avg_logprob": -1.5}, 2),  # unsure, and so is the retry: still one retry, never more
    ({"compression_ratio": 3.0}, 2),  # looping
    ({"avg_logprob": -0.9}, 1),  # lower than usual but not bad
    ({"avg_logprob": -1.5, "no_speech_prob": 0.9}, 1),  # probably not speech: a retry would not help
])  # fmt: skip
def test_greedy_decoding_is_retried_once_only_when_it_looks_wrong(shared_speech, speak, monkeypatch, looks, attempts):
    seen = spy_decode(shared_speech.model, monkeypatch, lambda result: replace(result, **looks))
    shared_speech._recognise(shared_speech.decode(speak(PHRASES[0]))[0])
    assert [options.temperature for options in seen] == [0.0, RETRY["temperature"]][:attempts]
    assert all(options.best_of == RETRY["best_of"] for options in seen[1:])


@pytest.mark.parametrize("greedy, retry, kept", [
    ({"avg_logprob": -1.5}, {"avg_logprob": -0.6}, "retry"),  # the retry is surer
    ({"avg_logprob": -1.2}, {"avg_logprob": -1.8}, "greedy"),  # sampling did worse: greedy stays
    ({"avg_logprob": -1.5}, {"avg_logprob": -0.2, "compression_ratio": 3.1}, "greedy"),  # sure, but a loop
])  # fmt: skip
def test_a_retry_replaces_the_greedy_text_only_when_it_is_likelier(shared_speech, speak, monkeypatch, greedy, retry, kept):
    looks = iter([{"text": "greedy words", **greedy}, {"text": "retry words", **retry}])
    seen = spy_decode(shared_speech.model, monkeypatch, lambda result: replace(result, **{"no_speech_prob": 0.01, **next(looks)}))
    text, _ = shared_speech._recognise(shared_speech.decode(speak(PHRASES[0]))[0])
    assert len(seen) == 2 and text == f"{kept} words"


def test_traditional_chinese_from_whisper_becomes_simplified(random_multilingual, speak, monkeypatch):
    heard = {"text": "我想買紅色的鞋", "avg_logprob": -0.2, "no_speech_prob": 0.01, "compression_ratio": 1.0}
    spy_decode(random_multilingual.model, monkeypatch, lambda result: replace(result, **heard))
    assert random_multilingual.transcribe(speak(PHRASES[0]), language="zh").text == "我想买红色的鞋"


def test_silence_is_trimmed_from_both_ends_with_a_margin():
    speech = np.random.default_rng(0).uniform(-0.3, 0.3, 2 * SAMPLE_RATE).astype(np.float32)
    quiet = np.full(3 * SAMPLE_RATE, 1e-5, np.float32)  # a muted microphone's hiss
    kept = trim_silence(np.concatenate([quiet, speech, quiet]))
    assert len(speech) < len(kept) <= len(speech) + 2 * SPEECH_MARGIN_S * SAMPLE_RATE
    assert np.array_equal(trim_silence(quiet), quiet)  # nothing loud: left for the silence check


def test_speech_after_a_long_silence_is_moved_into_the_window(make_settings, shared_speech, speak, tmp_path):
    late = tmp_path / "late.wav"  # 31 s of silence, then the words: the first 30 s window holds none of them
    ffmpeg("-i", str(speak(PHRASES[1])), "-af", "adelay=31000,apad=pad_dur=2", str(late))
    patient = SpeechRecognizer(make_settings(max_audio_seconds=40))
    patient._model = shared_speech.model
    transcript = patient.transcribe(late)
    assert same_words(transcript.text, PHRASES[1]) and transcript.seconds > 33 and not transcript.trimmed


def test_a_twelve_minute_noise_upload_costs_one_window(shared_speech, tmp_path, monkeypatch):
    """The work is bounded by the window, not the upload: 30.5 s decoded, one encoder pass, one decode."""
    upload = tmp_path / "noise.wav"  # 23 MB: under the upload limit
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=d=720:c=white:a=0.3:seed=1", "-ar", "16000", "-ac", "1", str(upload))
    decoded_bytes = []
    run = speech.subprocess.run

    def ffmpeg_run(*args, **kwargs):
        done = run(*args, **kwargs)
        decoded_bytes.append(len(done.stdout))
        return done

    monkeypatch.setattr(speech.subprocess, "run", ffmpeg_run)
    model = shared_speech.model
    seen = spy_decode(model, monkeypatch)
    with forward_calls(model.encoder.conv1) as encoder_passes, forward_calls(model.decoder) as decoder_steps:
        with pytest.raises(NoSpeechError):
            shared_speech.transcribe(upload)
    assert decoded_bytes == [int(30.5 * SAMPLE_RATE) * 2]  # 16-bit samples: ffmpeg stopped at the limit
    assert len(encoder_passes) == 1 and len(seen) == 1 and len(decoder_steps) <= MAX_TOKENS


@pytest.mark.parametrize("window", ["fit", "full", "auto"])
def test_a_short_query_is_encoded_in_a_window_fitted_to_it(make_settings, shared_speech, speak, window):
    """``fit`` gives the encoder the clip plus a margin, not 30 s; ``full`` keeps Whisper's window, and so does
    ``auto`` for a tiny model like this one (a fitted window cost it words)."""
    recognizer = SpeechRecognizer(make_settings(whisper_window=window))
    recognizer._model = model = shared_speech.model
    clip = speak(PHRASES[0])
    positions = []
    handle = model.encoder.ln_post.register_forward_hook(lambda _, __, out: positions.append(out.shape[1]))
    try:
        transcript = recognizer.transcribe(clip)
    finally:
        handle.remove()
    frames = len(trim_silence(recognizer.decode(clip)[0])) // 160  # Whisper's hop: 100 Mel frames a second
    expected = speech.window_frames(frames) // 2 if window == "fit" else model.dims.n_audio_ctx
    assert positions == [expected] and expected <= model.dims.n_audio_ctx
    assert window != "fit" or expected < model.dims.n_audio_ctx
    assert window == "fit" or same_words(transcript.text, PHRASES[0])  # tiny.en, fitted, may mishear a word


@pytest.mark.parametrize("setting, layers, fitted", [("auto", 4, False), ("auto", 6, True), ("fit", 4, True), ("full", 6, False)])
def test_auto_fits_the_window_for_models_larger_than_tiny(setting, layers, fitted):
    from whisper.model import ModelDimensions

    dims = ModelDimensions(80, 1500, 512, 8, layers, 51865, 448, 512, 8, layers)
    assert speech.fits_window(setting, dims) is fitted


def test_a_fitted_window_holds_the_clip_and_a_margin_within_whispers_30_seconds():
    assert speech.window_frames(300) == 1500  # a 3 s query: the 15 s floor
    assert speech.window_frames(2000) == 2300  # 20 s: the clip and a 3 s margin
    assert speech.window_frames(2999) == 3000  # never past the 30 s the model was trained on
    assert all(speech.window_frames(n) % 2 == 0 for n in range(1, 3001, 7))


def test_language_is_detected_on_a_fitted_window_as_whisper_detects_it_on_a_full_one(random_multilingual, speak):
    """Our detection reads encoder output of any length; on a full window it agrees with Whisper's own."""
    samples = trim_silence(random_multilingual.decode(speak(PHRASES[0]))[0])
    model = random_multilingual.model
    with torch.inference_mode():
        full, fitted = (random_multilingual._encode(samples, fit=fit) for fit in (False, True))
        _, probabilities = model.detect_language(full)
        assert speech.detect_language(model, full) == max(probabilities[0], key=probabilities[0].get)
        assert fitted.shape[1] < full.shape[1] and speech.detect_language(model, fitted) in probabilities[0]
