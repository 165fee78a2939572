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
texts of both sets came out identical. Language detection, the no-speech probability and Whisper's
timestamp rules read special tokens, which are exact. Only log-probabilities move a little (the
softmax's denominator sums estimates for the tail): average log-probabilities moved by at most
0.008. ``SHOPLENS_WHISPER_LOGITS=exact`` keeps Whisper's own fp32 scores.
"""

from __future__ import annotations

import logging
import types

import numpy as np
import torch

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


def shortlist_logits(model, first_special: int, *, threads: int) -> bool:
    """Let ``model``'s decoder score tokens with a :class:`ShortlistLogits`; False (and Whisper's own
    fp32 scores kept) when ONNX Runtime is missing, the model is not on the CPU, or this
    openai-whisper's decoder pass is not the one copied here (:func:`_agrees_with_whisper`)."""
    if model.device.type != "cpu":
        return False
    try:
        projection = ShortlistLogits(model.decoder.token_embedding.weight, first_special, threads=threads)
    except ImportError:
        log.warning("onnxruntime is not installed: Whisper scores every token in fp32 (slower decoding)")
        return False
    model.decoder.shortlist = projection
    model.decoder.forward = types.MethodType(_decoder_forward, model.decoder)
    if not _agrees_with_whisper(model.decoder, first_special):
        log.warning("this openai-whisper's decoder is not the one ShopLens shortlists: scoring every token in fp32")
        del model.decoder.forward, model.decoder.shortlist
        return False
    return True


def _agrees_with_whisper(decoder, first_special: int) -> bool:
    """Whether the shortlisted pass gives Whisper's own next tokens and special-token scores on a probe
    (a few tokens over random audio features): a newer openai-whisper whose ``TextDecoder.forward``
    changed keeps its own instead of this module's copy."""
    generator = torch.Generator().manual_seed(0)
    tokens = torch.tensor([[first_special + 1, first_special + 2, first_special + 3]])
    features = torch.randn(1, 16, decoder.ln.normalized_shape[0], generator=generator)
    with torch.inference_mode():
        own, shortlisted = type(decoder).forward(decoder, tokens, features), decoder(tokens, features)
    return torch.equal(own.argmax(-1), shortlisted.argmax(-1)) and torch.allclose(
        own[..., first_special:], shortlisted[..., first_special:], atol=1e-3
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
    import onnxruntime
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
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as CLIP's sessions: cores are shared
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
