"""Whisper's own steps, run on the encoder's output of one window of any length.

openai-whisper's ``model.decode`` and ``model.detect_language`` take a Mel and encode it themselves,
and take a window shorter than 30 s for a Mel to be padded. ShopLens encodes a clip once (a fitted
window for models larger than tiny) and hands that output to language detection and to every
decoding attempt, so these functions take the encoder's output instead. They use Whisper's
``DecodingTask`` and its logit filters unchanged, with three changes that make decoding cheaper
without changing what it computes:

- **Shared cross-attention.** The candidates of a best-of-n retry all listen to the same clip, so
  their queries attend to the one clip's keys and values as one batch of n queries
  (:func:`share_cross_attention`), instead of n copies broadcast to every step and layer.
- **Exponential-race sampling.** The next token is ``argmax(logits / T - log E)`` with ``E`` drawn
  from Exp(1): the same distribution as sampling the softmax of ``logits / T``, without
  ``torch.multinomial``'s cumulative sums over a 52k-token vocabulary at every step. The race is run
  in two heats (:func:`race_sample`), so ``E`` is drawn for some 64 tokens a row, not 52k.
- **A clip's cross-attention keys and values, projected once** (:func:`remember_clip_keys`) for
  language detection, the greedy pass and a retry alike.

With the decoder's scores of the vocabulary taken from a shortlist (:mod:`engine.models.whisper_logits`),
they took the five-candidate retry from about 3.9 greedy passes to about 1.6 on Whisper base
(``python bench/voice.py`` measures the whole voice path).

One change does alter what a retry may return: **a candidate that loops stops.** A sampled candidate
that writes the same few tokens over and over (:func:`loops`; timestamps between segments aside)
nearly always runs on to the token budget and is thrown away for failing the compression check; it
is ended at once and scored minus infinity, so it can never be the retry's best, and the retry ends
when every candidate has finished or looped. The price: a retry can no longer return a short honest
repeat ("bye bye bye"); the greedy text still can.
"""

from __future__ import annotations

import math
import types
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING

import torch

from engine.models.whisper_logits import SHORTLIST

if TYPE_CHECKING:
    from whisper.decoding import DecodingOptions, DecodingResult


def encode(encoder, mel: torch.Tensor) -> torch.Tensor:
    """``AudioEncoder.forward`` for a window of up to 30 s: the positional embedding is cut to its length."""
    x = torch.nn.functional.gelu(encoder.conv1(mel))
    x = torch.nn.functional.gelu(encoder.conv2(x)).permute(0, 2, 1)
    x = (x + encoder.positional_embedding[: x.shape[1]]).to(x.dtype)
    for block in encoder.blocks:
        x = block(x)
    return encoder.ln_post(x)


def detect_language(model, features: torch.Tensor) -> str:
    """The spoken language's code: Whisper's ``detect_language`` (the likeliest language token after
    start-of-transcript) on the encoder's output."""
    from whisper.tokenizer import get_tokenizer

    tokenizer = get_tokenizer(model.is_multilingual, num_languages=model.num_languages)
    logits = model.logits(torch.tensor([[tokenizer.sot]], device=features.device), features)[0, 0]
    languages = list(tokenizer.all_language_tokens)
    best = languages[int(logits[languages].argmax())]
    return dict(zip(tokenizer.all_language_tokens, tokenizer.all_language_codes))[best]


def decode_features(model, features: torch.Tensor, options: DecodingOptions) -> DecodingResult:
    """``model.decode`` on the encoder's output of one window (a batch of one clip)."""
    return _features_decoding()(model, options).run(features)[0]


def share_cross_attention(model) -> None:
    """Let the decoder's cross-attention read one clip's keys and values for n candidates at once.

    Whisper decodes n candidates of one clip (best-of-n sampling) with the clip's keys and values
    computed once, batch 1, and broadcast against n queries in every layer at every step. Attention
    without a mask treats its queries independently, so n candidates of one token each are the same
    as one batch of n query positions: the same numbers, read once.
    """
    for block in model.decoder.blocks:
        if block.cross_attn is not None:
            block.cross_attn.qkv_attention = types.MethodType(_one_clip_attention, block.cross_attn)


def remember_clip_keys(model) -> None:
    """Let the decoder's cross-attention compute a clip's keys and values once, not once per decoding.

    Language detection, the greedy pass and a retry each start a decoding of the same encoder output,
    and each began by projecting all of its positions to keys and values in every layer: for base on a
    fitted 15 s window, 2.4 billion multiply-adds, about 30 ms. Each projection now keeps its output
    for the last input tensor it saw (held by weak reference, so a new clip, a new tensor, is
    projected afresh): the same numbers, computed once per clip.
    """
    for projection in _cross_projections(model):
        projection.forward = types.MethodType(_remembered_projection, projection)


@contextmanager
def one_clip(model) -> Iterator[None]:
    """Decode one clip: its keys and values, remembered while it is decoded (:func:`remember_clip_keys`),
    are let go after (tens of MB for base on a full window)."""
    try:
        yield
    finally:
        for projection in _cross_projections(model):
            projection.__dict__.pop("last_projected", None)


def _cross_projections(model) -> list[torch.nn.Module]:
    return [projection for block in model.decoder.blocks if block.cross_attn is not None
            for projection in (block.cross_attn.key, block.cross_attn.value)]  # fmt: skip


def _remembered_projection(projection, x: torch.Tensor) -> torch.Tensor:
    last = getattr(projection, "last_projected", None)
    if last is not None and last[0]() is x:
        return last[1]
    out = type(projection).forward(projection, x)
    projection.last_projected = (weakref.ref(x), out)
    return out


def _one_clip_attention(attention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask=None):
    if q.shape[0] > 1 and k.shape[0] == 1 and mask is None:
        candidates, steps = q.shape[:2]
        out, _ = type(attention).qkv_attention(attention, q.reshape(1, candidates * steps, -1), k, v, None)
        return out.reshape(candidates, steps, -1), None
    return type(attention).qkv_attention(attention, q, k, v, mask)


def race_sample(logits: torch.Tensor, temperature: float, contenders: int = SHORTLIST) -> torch.Tensor:
    """One token per row, drawn from ``softmax(logits / temperature)`` by a race run in two heats.

    Each token runs ``logits / temperature - log E``, with ``E`` drawn from Exp(1), and the fastest
    wins: exactly softmax sampling (the Gumbel-max trick). Drawing ``E`` for all 52k tokens of five
    candidates took 7 ms a step, so only the ``contenders`` best-scored tokens of a row run one by one.
    The rest run as one field: the best of their times is itself ``logsumexp`` of their scores minus
    ``log E`` for one draw of ``E``. Only when the field beats every contender (rare at a retry's
    temperature) does the field race again, token by token, for its winner, who is independent of the
    field's winning time. Each step is still an exact draw from the softmax.
    """
    scores = logits.float() / temperature
    best, contender_ids = scores.topk(min(contenders, scores.shape[-1]), dim=-1)
    lead, place = (best - _log_exponential(best.shape)).max(dim=-1)
    winners = contender_ids.gather(1, place[:, None])[:, 0]
    field = scores.scatter_(1, contender_ids, -math.inf)  # ``scores`` is this call's own copy
    field_time = field.logsumexp(dim=-1) - _log_exponential(lead.shape)  # minus infinity for an empty field
    lost = (field_time > lead).nonzero()[:, 0]
    if len(lost):
        lost_field = field[lost]
        winners[lost] = (lost_field - _log_exponential(lost_field.shape)).argmax(dim=-1)
    return winners


def _log_exponential(shape: torch.Size) -> torch.Tensor:
    return torch.empty(shape, dtype=torch.float32).exponential_().log_()


# A candidate loops when its text ends in the same n tokens LOOP_REPEATS times in a row (n up to
# LOOP_LONGEST; a single token must repeat once more, as "..." or a doubled character may do twice).
LOOP_LONGEST = 8
LOOP_REPEATS = 3


def loops(tokens: list[int]) -> bool:
    """Whether ``tokens`` end in one n-gram written LOOP_REPEATS times in a row (4 times for one token)."""
    for n in range(1, LOOP_LONGEST + 1):
        times = LOOP_REPEATS + (n == 1)
        tail = tokens[-n * times :]
        if len(tail) == n * times and tail == tail[-n:] * times:
            return True
    return False


@lru_cache(maxsize=1)
def _features_decoding():
    """Whisper's ``DecodingTask``, given the encoder's output instead of a Mel, sampling by exponential
    race. Built on first use, so importing this module does not import Whisper."""
    from whisper.decoding import DecodingTask, GreedyDecoder

    class RaceSampler(GreedyDecoder):
        """Whisper's ``GreedyDecoder`` at a temperature above 0, drawing each token by exponential race;
        a candidate that loops is ended and scored minus infinity."""

        def __init__(self, temperature: float, eot: int, sample_begin: int) -> None:
            super().__init__(temperature, eot)
            self.sample_begin = sample_begin

        def update(self, tokens: torch.Tensor, logits: torch.Tensor, sum_logprobs: torch.Tensor):
            next_tokens = race_sample(logits, self.temperature)
            scores = logits.float()  # the drawn tokens' log-probabilities, without a log-softmax of every token
            current_logprobs = scores.gather(1, next_tokens[:, None])[:, 0] - scores.logsumexp(dim=-1)
            ended = tokens[:, -1] == self.eot
            sum_logprobs += torch.where(ended, 0.0, current_logprobs)
            next_tokens[ended] = self.eot
            tokens = torch.cat([tokens, next_tokens[:, None]], dim=-1)
            for row, written in enumerate(tokens[:, self.sample_begin :].tolist()):
                # text tokens only: a loop of whole segments carries rising timestamps between its repeats
                if written[-1] != self.eot and loops([token for token in written if token < self.eot]):
                    tokens[row, -1] = self.eot
                    sum_logprobs[row] = -math.inf
            return tokens, bool((tokens[:, -1] == self.eot).all())

    class FeaturesDecoding(DecodingTask):
        def __init__(self, model, options: DecodingOptions) -> None:
            super().__init__(model, options)
            if options.temperature > 0 and options.beam_size is None:
                self.decoder = RaceSampler(options.temperature, self.tokenizer.eot, self.sample_begin)

        def _get_audio_features(self, features: torch.Tensor) -> torch.Tensor:
            return features

    return FeaturesDecoding
