"""Whisper's decoding made cheaper: the vocabulary scored from a shortlist, a retry sampled in two heats,
a clip's cross-attention keys projected once."""

import pytest
import torch

from engine.models import speech, whisper_steps
from engine.models.speech import SpeechRecognizer
from engine.models.whisper_logits import SHORTLIST, ShortlistLogits
from tests.test_speech import PHRASES

EOT_ENGLISH = 50256  # tiny.en's end of text: its text tokens come before it


@pytest.fixture(scope="module")
def exact_speech(make_settings_module) -> SpeechRecognizer:
    """The same tiny.en, scoring every token in fp32 as Whisper does."""
    recognizer = SpeechRecognizer(make_settings_module(whisper_logits="exact"))
    recognizer.warm_up()
    return recognizer


@pytest.fixture(scope="module")
def make_settings_module(tmp_path_factory, whisper_checkpoint):
    from engine.settings import Settings

    def make(**overrides) -> Settings:
        values = dict(whisper_model=str(whisper_checkpoint), device="cpu", data_dir=tmp_path_factory.mktemp("data"))
        return Settings(_env_file=None, **{**values, **overrides})

    return make


def decoder_states(recognizer: SpeechRecognizer, clip) -> torch.Tensor:
    """The decoder's final states (before the vocabulary) at every step of decoding ``clip``."""
    states = []
    handle = recognizer.model.decoder.ln.register_forward_hook(lambda _m, _i, out: states.append(out.reshape(-1, out.shape[-1])))
    try:
        recognizer._recognise(recognizer.decode(clip)[0])
    finally:
        handle.remove()
    return torch.cat(states)


def test_only_the_shortlisted_setting_replaces_whispers_own_scoring(shared_speech, exact_speech):
    assert isinstance(shared_speech.model.decoder.shortlist, ShortlistLogits)  # the default
    assert not hasattr(exact_speech.model.decoder, "shortlist")
    assert "forward" not in vars(exact_speech.model.decoder)  # Whisper's own TextDecoder.forward


@pytest.mark.parametrize("changed", [False, True])
def test_a_whisper_whose_decoder_changed_keeps_its_own_scoring(monkeypatch, changed):
    """A newer openai-whisper may change ``TextDecoder.forward``; the shortlist checks it copies it right."""
    from whisper.model import ModelDimensions, Whisper

    from engine.models import whisper_logits

    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=1,
                           n_vocab=51865, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=1)  # fmt: skip
    torch.manual_seed(0)
    model = Whisper(dims)
    torch.nn.init.normal_(model.decoder.positional_embedding, std=0.02)
    if changed:  # as if Whisper had added a step this module's copy lacks
        copied = whisper_logits._decoder_forward
        monkeypatch.setattr(whisper_logits, "_decoder_forward", lambda d, x, xa, kv_cache=None: copied(d, x, 2 * xa, kv_cache))
    assert whisper_logits.shortlist_logits(model, 50257, threads=1) is not changed
    assert ("forward" in vars(model.decoder)) is not changed and hasattr(model.decoder, "shortlist") is not changed


def test_shortlisted_scores_are_exact_for_the_best_text_tokens_and_every_special_token(shared_speech, speak):
    states = decoder_states(shared_speech, speak(PHRASES[1]))
    weights = shared_speech.model.decoder.token_embedding.weight
    with torch.inference_mode():
        exact = states @ weights.T
        scored = shared_speech.model.decoder.shortlist(states)
    assert scored.shape == exact.shape and len(states) >= 8  # every step of a spoken phrase
    assert torch.equal(scored.argmax(-1), exact.argmax(-1))
    best = exact[:, :EOT_ENGLISH].topk(SHORTLIST // 2, dim=-1).indices  # well inside the shortlist
    assert torch.allclose(scored.gather(1, best), exact.gather(1, best), atol=1e-4)
    assert torch.allclose(scored[:, EOT_ENGLISH:], exact[:, EOT_ENGLISH:], atol=1e-4)  # languages, timestamps...
    tail = (scored - exact)[:, :EOT_ENGLISH].abs()
    assert 1e-3 < tail.mean() < 0.5 and tail.max() < 3  # the rest is an INT8 estimate, near fp32's
    log_softmax = torch.log_softmax(scored, -1).gather(1, exact.argmax(-1, keepdim=True))
    assert torch.allclose(log_softmax, torch.log_softmax(exact, -1).gather(1, exact.argmax(-1, keepdim=True)), atol=0.01)


@pytest.mark.parametrize("phrase", PHRASES)
def test_shortlisted_and_exact_scores_hear_the_same_tokens(shared_speech, exact_speech, speak, monkeypatch, phrase):
    decoded = {}
    real = speech.decode_features

    def keep(model, features, options):
        result = real(model, features, options)
        decoded.setdefault(model, []).append(result)
        return result

    monkeypatch.setattr(speech, "decode_features", keep)
    clip = speak(phrase)
    heard = {recognizer: recognizer.transcribe(clip).text for recognizer in (shared_speech, exact_speech)}
    shortlisted, exact = decoded[shared_speech.model], decoded[exact_speech.model]
    assert [r.tokens for r in shortlisted] == [r.tokens for r in exact]
    assert heard[shared_speech] == heard[exact_speech]
    assert all(abs(a.avg_logprob - b.avg_logprob) < 0.01 for a, b in zip(shortlisted, exact))


def test_a_race_in_two_heats_draws_the_field_as_often_as_whispers_softmax():
    """Three contenders run one by one; the nine others as a field that holds about half the probability."""
    logits = torch.tensor([3.0, 2.5, 2.0] + [1.6] * 4 + [1.0] * 4 + [float("-inf")]).repeat(80_000, 1)
    torch.manual_seed(0)
    drawn = whisper_steps.race_sample(logits, 1.0, contenders=3)
    share = torch.bincount(drawn, minlength=12).double() / len(drawn)
    softmax = torch.softmax(logits[0].double(), dim=0)
    assert softmax[3:].sum() > 0.4  # the field is no formality
    assert torch.allclose(share, softmax, atol=0.006)
    assert share[11] == 0  # a token Whisper's filters ruled out is never drawn


def test_a_clips_cross_attention_keys_are_projected_once_for_detection_greedy_and_retry(random_multilingual, speak,
                                                                                       monkeypatch):  # fmt: skip
    from whisper.model import Linear

    model = random_multilingual.model
    cross = {id(m) for block in model.decoder.blocks for m in (block.cross_attn.key, block.cross_attn.value)}
    projected = []
    real = Linear.forward
    monkeypatch.setattr(Linear, "forward", lambda self, x: (projected.append(1) if id(self) in cross else None) or real(self, x))
    monkeypatch.setattr(speech, "_needs_retry", lambda result: True)  # every clip gets the retry too
    attempts = []
    monkeypatch.setattr(speech, "detect_language", lambda m, f: attempts.append("detect") or whisper_steps.detect_language(m, f))
    results = []
    decode = speech.decode_features
    monkeypatch.setattr(speech, "decode_features", lambda *args: results.append(decode(*args)) or results[-1])
    first, second = (random_multilingual.decode(speak(phrase))[0] for phrase in PHRASES[:2])

    random_multilingual._recognise(first)  # language detected, greedy, retry: three decodings of one clip
    assert attempts == ["detect"] and len(projected) == len(cross)  # each projection ran once
    heard = random_multilingual._recognise(first)
    assert len(projected) == 2 * len(cross)  # the same samples again: a new encoder output, projected again
    remembered = [(r.tokens, r.avg_logprob, r.no_speech_prob) for r in results[-2:]]  # greedy and retry
    random_multilingual._recognise(second)
    assert len(projected) == 3 * len(cross)
    for block in model.decoder.blocks:  # Whisper's own projections, computed at every decoding
        del block.cross_attn.key.forward, block.cross_attn.value.forward
    try:
        assert random_multilingual._recognise(first) == heard
        assert [(r.tokens, r.avg_logprob, r.no_speech_prob) for r in results[-2:]] == remembered  # the same numbers
        assert len(projected) == 6 * len(cross)
    finally:
        whisper_steps.remember_clip_keys(model)
