"""Whisper's own decoding steps as ShopLens runs them (``engine/models/whisper_steps.py`` and
``whisper_logits.py``): a retry's candidates sharing one clip's cross-attention, sampled by race (in two
heats), stopped when they loop; the vocabulary scored from a shortlist; a clip's keys projected once.
When a clip is retried, and what is kept, is in ``test_speech.py``."""

import math
from dataclasses import replace

import pytest
import torch

from engine.models import speech, whisper_steps
from engine.models.speech import RETRY, SpeechRecognizer
from engine.models.whisper_logits import SHORTLIST, ShortlistLogits
from tests.conftest import random_whisper
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


def cache_offset_ignored(copied):
    """A copy of the decoder pass that forgets where the key/value cache left off (every step at position 0)."""
    return lambda decoder, x, xa, kv_cache=None: copied(decoder, x, xa, None) if kv_cache else copied(decoder, x, xa)


@pytest.mark.parametrize("changed", [
    None,  # the copy is Whisper's pass: the shortlist is used
    lambda copied: lambda decoder, x, xa, kv_cache=None: copied(decoder, x, 2 * xa, kv_cache),  # a step Whisper added
    cache_offset_ignored,  # wrong only from the second step on, read through the cache
])  # fmt: skip
def test_a_whisper_whose_decoder_changed_keeps_its_own_scoring(monkeypatch, changed):
    """A newer openai-whisper may change ``TextDecoder.forward``; the shortlist checks it copies it right."""
    from engine.models import whisper_logits

    model = random_whisper()
    if changed is not None:
        monkeypatch.setattr(whisper_logits, "_decoder_forward", changed(whisper_logits._decoder_forward))
    used = changed is None
    assert whisper_logits.shortlist_logits(model, threads=1) is used
    assert ("forward" in vars(model.decoder)) is used and hasattr(model.decoder, "shortlist") is used


def test_onnx_runtime_failing_to_build_the_estimate_leaves_whisper_its_own_scoring(monkeypatch, caplog):
    from engine.models import whisper_logits

    def refuse(*args):
        raise RuntimeError("ONNX Runtime: no CPU provider here")

    monkeypatch.setattr(whisper_logits, "onnx_session", refuse)
    model = random_whisper()
    assert whisper_logits.shortlist_logits(model, threads=1) is False
    assert "forward" not in vars(model.decoder) and not hasattr(model.decoder, "shortlist")
    assert "no CPU provider here" in caplog.text


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
    held = [b.cross_attn.key for b in model.decoder.blocks] + [b.cross_attn.value for b in model.decoder.blocks]
    assert not any("last_projected" in vars(projection) for projection in held)  # let go once the clip is decoded
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


# --- a retry's candidates: shared cross-attention, race sampling, loops stopped ---------------------
def test_the_retrys_candidates_share_one_clips_cross_attention_with_whispers_own_numbers(random_multilingual):
    from whisper.model import Whisper

    model = random_multilingual.model  # as SpeechRecognizer loads it
    assert all(b.cross_attn.qkv_attention.__func__ is whisper_steps._one_clip_attention for b in model.decoder.blocks)
    stock = Whisper(model.dims)
    stock.load_state_dict(model.state_dict())
    torch.manual_seed(1)
    features = torch.randn(1, 40, model.dims.n_audio_state)  # one clip
    tokens = torch.randint(0, 50000, (5, 4))  # five candidates
    with torch.inference_mode():  # Whisper's own decoder pass (not the shortlisted scores: tested above)
        shared = type(model.decoder).forward(model.decoder, tokens, features)
        assert torch.allclose(shared, stock.decoder(tokens, features), atol=1e-5)


def test_race_sampling_draws_tokens_as_often_as_whispers_softmax_at_that_temperature():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0, float("-inf")]).repeat(60_000, 1)
    torch.manual_seed(0)
    drawn = whisper_steps.race_sample(logits, 0.5)
    share = torch.bincount(drawn, minlength=5).double() / len(drawn)
    assert torch.allclose(share, torch.softmax(logits[0].double() / 0.5, dim=0), atol=0.006)
    assert share[4] == 0  # a token Whisper's filters ruled out is never drawn


@pytest.mark.parametrize("written, looping", [
    ([5, 6, 7, 5, 6, 7, 5, 6, 7], True),  # one 3-token phrase three times
    ([1, 2, 3, 4, 5, 6, 7, 8] * 3, True),  # the longest phrase watched for
    ([9, 9, 9, 9], True),  # one token four times
    ([9, 9, 9], False),  # three times is allowed for a single token ("..." or a doubled character)
    ([5, 6, 7, 5, 6, 7, 5, 6], False),  # not yet a third time
    ([5, 6, 5, 6, 5, 6, 8], False),  # it repeated, then moved on
    ([1, 2, 3, 4, 5, 6, 7, 8, 9] * 3, False),  # longer than LOOP_LONGEST
])  # fmt: skip
def test_a_loop_is_the_same_few_tokens_written_again_and_again(written, looping):
    assert whisper_steps.loops(written) is looping


def test_a_sampled_candidate_that_loops_is_ended_scored_minus_infinity_and_never_chosen(random_multilingual, speak,
                                                                                         monkeypatch):  # fmt: skip
    """Candidate 0 is made to write 11 12 13 over and over, the others ordinary tokens: the retry
    stops candidate 0 at its third phrase, lets the others run to the budget, and never returns it.
    (When every candidate loops the retry ends early: see the test after this one.)"""
    import whisper

    budget = 20
    steps = []

    def rigged(logits, temperature):
        step = len(steps)
        steps.append(step)
        drawn = race(logits, temperature)
        drawn[0] = 11 + step % 3
        drawn[1:] = 1000 + step + torch.arange(logits.shape[0] - 1)  # never repeats, never ends
        return drawn

    race = whisper_steps.race_sample
    monkeypatch.setattr(whisper_steps, "race_sample", rigged)
    features = random_multilingual._encode(random_multilingual.decode(speak(PHRASES[0]))[0], fit=False)
    options = whisper.DecodingOptions(language="en", sample_len=budget, fp16=False, without_timestamps=True, **RETRY)
    task = whisper_steps._features_decoding()(random_multilingual.model, options)
    ended = []
    finalize = task.decoder.finalize
    monkeypatch.setattr(task.decoder, "finalize", lambda tokens, sums: ended.append(sums.clone()) or finalize(tokens, sums))
    with torch.inference_mode():
        result = task.run(features)[0]
    assert len(steps) == budget  # the other candidates ran on
    assert ended[0][0, 0] == -math.inf and torch.isfinite(ended[0][0, 1:]).all()
    assert result.tokens[:3] != [11, 12, 13] and result.avg_logprob > -math.inf


def test_a_retry_whose_every_candidate_loops_ends_early_and_the_greedy_text_is_kept(random_multilingual, speak,
                                                                                     monkeypatch):  # fmt: skip
    import whisper

    steps = []

    def looping(logits, temperature):
        steps.append(len(steps))
        return torch.full((logits.shape[0],), 11 + (len(steps) - 1) % 2)  # 11 12 11 12 11 12: a loop

    monkeypatch.setattr(whisper_steps, "race_sample", looping)
    features = random_multilingual._encode(random_multilingual.decode(speak(PHRASES[0]))[0], fit=False)
    options = whisper.DecodingOptions(language="en", sample_len=30, fp16=False, without_timestamps=True, **RETRY)
    with torch.inference_mode():
        retry = speech.decode_features(random_multilingual.model, features, options)
    assert len(steps) == 6 and retry.avg_logprob == -math.inf  # stopped at the third "11 12"
    assert retry.compression_ratio <= speech.MAX_COMPRESSION_RATIO  # too short to look like a loop by its text
    sure = replace(retry, text="greedy words", avg_logprob=-1.4, compression_ratio=1.0)
    assert speech.likelier(sure, retry) is sure
    looping = replace(retry, text="greedy greedy greedy", avg_logprob=-0.3, compression_ratio=3.0)
    kept = speech.likelier(looping, retry)  # both loop: the surer is kept, and neither is taken for speech
    assert kept is looping and not speech._is_speech(kept)


def test_the_sampled_retry_draws_by_race(random_multilingual, speak, monkeypatch):
    import whisper

    draws = []
    race = whisper_steps.race_sample
    monkeypatch.setattr(whisper_steps, "race_sample", lambda logits, t: draws.append(t) or race(logits, t))
    features = random_multilingual._encode(random_multilingual.decode(speak(PHRASES[0]))[0], fit=False)
    options = whisper.DecodingOptions(language="en", sample_len=6, fp16=False, **RETRY)
    with torch.inference_mode():
        result = speech.decode_features(random_multilingual.model, features, options)
    assert draws and set(draws) == {RETRY["temperature"]} and result.tokens
