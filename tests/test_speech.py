import re

import numpy as np
import pytest

from engine.errors import InvalidInputError, ModelUnavailableError, NoSpeechError
from engine.models.speech import SAMPLE_RATE, SpeechRecognizer
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
