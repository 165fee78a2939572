"""Whisper's next-token scores from a shortlist: exact where a token is chosen, estimated elsewhere.

Each decoding step ends by scoring the decoder's state against every token of Whisper's vocabulary:
51,865 rows of fp32 weights, 106 MB for base and 80 MB for tiny, read from memory at every step for
one number each. On a CPU that read is a third of a greedy step, and with the five candidates of a
sampled retry torch took 10 ms for it on base. :class:`ShortlistLogits` scores instead:

- every text token with INT8 weights (one scale per token) in ONNX Runtime, a quarter of the bytes,
  about 1 ms for one candidate or five;
- the :data:`SHORTLIST` best-scored text tokens of each row again, exactly, in fp32;
- every special token (end of text, languages, no-speech, task, timestamps: about 1,600) exactly.

The estimate only has to place the best text tokens somewhere among the shortlist's 64. Its error is
about 0.2 on average and under 2 at most (the decoder's states have a few large components, and the
state is quantised with one scale), on scores that span tens. On every decoding step of the spoken
query sets (tiny.en in English, base in Chinese) fp32's best token was among the estimate's best 3
and its best 5 among the estimate's 13, so greedy decoding writes the tokens fp32 writes, and the
texts of both sets came out identical. Language detection and Whisper's timestamp rules compare
special tokens, which are exact. Probabilities move a little, the no-speech probability's included,
because a softmax's denominator sums the estimates of the tail: average log-probabilities moved by at
most 0.008. The input is quantised with one scale per call, so the five candidates of a retry share
one; the estimates of one row then depend a little on the others, which only the tail feels.
``SHOPLENS_WHISPER_LOGITS=exact`` keeps Whisper's own fp32 scores.
"""

from __future__ import annotations

import logging
import types

import numpy as np
import torch

from engine.errors import brief
from engine.models.devices import onnx_session

log = logging.getLogger(__name__)

SHORTLIST = 64  # text tokens per row scored again in fp32


class ShortlistLogits:
    """The decoder's final projection: ``hidden @ embedding.T`` estimated in INT8, exact on a shortlist.

    ``first_special`` is the end-of-text token: Whisper's text tokens come before it, its special and
    timestamp tokens from it on.
    """

    def __init__(self, embedding: torch.Tensor, first_special: int, *, threads: int) -> None:
        weights = embedding.detach().float().contiguous()
        self.text_weights = weights[:first_special]
        self.special_weights = weights[first_special:]
        self._estimate = _int8_projection(self.text_weights.numpy(), threads)

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every token for each position of ``hidden`` (..., state): (..., vocabulary), fp32."""
        rows = hidden.reshape(-1, hidden.shape[-1]).float().contiguous()
        text = torch.from_numpy(self._estimate.run(None, {"hidden": rows.numpy()})[0])
        best = text.topk(min(SHORTLIST, text.shape[-1]), dim=-1).indices
        text.scatter_(1, best, torch.einsum("rd,rkd->rk", rows, self.text_weights[best]))
        logits = torch.cat([text, rows @ self.special_weights.T], dim=1)
        return logits.reshape(*hidden.shape[:-1], -1)


def shortlist_logits(model, *, threads: int) -> bool:
    """Let ``model``'s decoder score tokens with a :class:`ShortlistLogits`. False, with Whisper's own
    fp32 scoring kept, when the model is not on the CPU, ONNX Runtime cannot build the estimate, or this
    openai-whisper's decoder pass is not the one copied here (:func:`_agrees_with_whisper`)."""
    from whisper.tokenizer import get_tokenizer

    if model.device.type != "cpu":
        return False
    decoder = model.decoder
    first_special = get_tokenizer(model.is_multilingual, num_languages=model.num_languages).eot  # after every text token
    try:
        decoder.shortlist = ShortlistLogits(decoder.token_embedding.weight, first_special, threads=threads)
        decoder.forward = types.MethodType(_decoder_forward, decoder)
        if _agrees_with_whisper(model, first_special):
            return True
        reason = "this openai-whisper's decoder is not the one ShopLens shortlists"
    except Exception as error:  # ONNX Runtime or onnx missing or failing, or a decoder without the parts copied
        reason = brief(error)
    log.warning("Whisper scores every token in fp32 (slower decoding): %s", reason)
    for name in ("forward", "shortlist"):
        decoder.__dict__.pop(name, None)
    return False


def _agrees_with_whisper(model, first_special: int) -> bool:
    """Whether the shortlisted pass gives Whisper's own next tokens and special-token scores on a probe:
    three tokens over random audio features, then one more read through the key/value cache, as a
    decoding runs. A newer openai-whisper whose ``TextDecoder.forward`` changed keeps its own."""
    decoder = model.decoder
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(1, 16, decoder.ln.normalized_shape[0], generator=generator)
    steps = [torch.tensor([[first_special + 1, first_special + 2, first_special + 3]]), torch.tensor([[first_special + 4]])]
    passes = {}
    for name, forward in (("own", type(decoder).forward), ("shortlisted", decoder.forward.__func__)):
        cache, hooks = model.install_kv_cache_hooks()
        try:
            with torch.inference_mode():
                passes[name] = [forward(decoder, tokens, features, kv_cache=cache) for tokens in steps]
        finally:
            for hook in hooks:
                hook.remove()
    return all(
        torch.equal(own.argmax(-1), shortlisted.argmax(-1))
        and torch.allclose(own[..., first_special:], shortlisted[..., first_special:], atol=1e-3)
        for own, shortlisted in zip(passes["own"], passes["shortlisted"])
    )


def _decoder_forward(decoder, x: torch.Tensor, xa: torch.Tensor, kv_cache: dict | None = None) -> torch.Tensor:
    """Whisper's ``TextDecoder.forward`` (openai-whisper 20250625), with the final projection shortlisted."""
    offset = next(iter(kv_cache.values())).shape[1] if kv_cache else 0
    x = decoder.token_embedding(x) + decoder.positional_embedding[offset : offset + x.shape[-1]]
    x = x.to(xa.dtype)
    for block in decoder.blocks:
        x = block(x, xa, mask=decoder.mask, kv_cache=kv_cache)
    return decoder.shortlist(decoder.ln(x))


def _int8_projection(weights: np.ndarray, threads: int):
    """An ONNX Runtime session computing ``hidden @ weights.T`` with INT8 weights, one symmetric scale
    per row (per token), and the input quantised on the fly: the graph ``onnxruntime.quantization.
    quantize_dynamic(per_channel=True)`` writes for a MatMul, built directly (the quantiser took 5 s
    over these 26 million weights; this takes a fraction of one)."""
    from onnx import TensorProto, helper, numpy_helper

    scale = np.abs(weights).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    quantized = np.round(weights / scale[:, None]).astype(np.int8)
    tokens, state = weights.shape
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["hidden"], ["hidden_q", "hidden_scale", "hidden_zero"]),
        helper.make_node("MatMulInteger", ["hidden_q", "weights_q", "hidden_zero", "weights_zero"], ["products"]),
        helper.make_node("Cast", ["products"], ["products_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["hidden_scale", "weights_scale"], ["scales"]),
        helper.make_node("Mul", ["products_f", "scales"], ["logits"]),
    ]
    initializers = [
        numpy_helper.from_array(np.ascontiguousarray(quantized.T), "weights_q"),
        numpy_helper.from_array(np.zeros(tokens, np.int8), "weights_zero"),
        numpy_helper.from_array(scale.astype(np.float32), "weights_scale"),
    ]
    graph = helper.make_graph(
        nodes, "whisper_vocabulary",
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["rows", state])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["rows", tokens])],
        initializers,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return onnx_session(model.SerializeToString(), threads)
