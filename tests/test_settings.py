import pytest
from pydantic import ValidationError

from engine.settings import BUNDLED_CATALOGUE, Settings


def test_defaults_are_the_documented_models():
    settings = Settings(_env_file=None)
    assert (settings.clip_model, settings.clip_pretrained, settings.whisper_model) == ("ViT-B-32", "laion2b_s34b_b79k", "base")
    assert settings.catalog == BUNDLED_CATALOGUE and settings.chroma_url is None and not settings.clip_random_weights


def test_every_knob_reads_its_shoplens_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOPLENS_TOP_K", "7")
    monkeypatch.setenv("SHOPLENS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHOPLENS_CHROMA_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SHOPLENS_CLIP_PRETRAINED", "none")
    monkeypatch.setenv("SHOPLENS_WHISPER_LANGUAGE", "")
    monkeypatch.setenv("SHOPLENS_LONG_AUDIO", "refuse")
    settings = Settings(_env_file=None)
    assert settings.top_k == 7 and settings.chroma_path == tmp_path / "chroma"
    assert settings.chroma_url == "http://127.0.0.1:9" and settings.clip_random_weights
    assert settings.whisper_language is None and settings.long_audio == "refuse"


def test_settings_are_frozen_and_validated(monkeypatch):
    settings = Settings(_env_file=None)
    with pytest.raises(ValidationError):
        settings.top_k = 3
    monkeypatch.setenv("SHOPLENS_TOP_K", "0")
    with pytest.raises(ValidationError, match="top_k"):
        Settings(_env_file=None)
    with pytest.raises(ValidationError, match="collection"):
        Settings(_env_file=None, collection="ab")
