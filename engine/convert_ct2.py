"""Turn a Whisper model in CTranslate2 format into an openai-whisper checkpoint.

Some offline packages ship Whisper as a CTranslate2 ``model.bin`` (possibly split into parts). This
module reads that file and writes the ``{"dims", "model_state_dict"}`` checkpoint that
``whisper.load_model(path)`` takes, so ShopLens can use such a model with ``SHOPLENS_WHISPER_MODEL``.

    python -m engine.convert_ct2 path/to/model.bin whisper-tiny.en.pt

File layout: u32 version, string spec name, u32 revision, u32 variable count, then per variable a
string name, u8 rank, u32 dims[rank], u8 dtype, u32 byte count and the bytes; after the variables, a
u32 alias count and (alias, target) string pairs. Strings are u16 length + bytes ending in NUL.
"""

from __future__ import annotations

import argparse
import io
import re
import struct
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
LINEAR = {"weight": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}


def read_ct2_variables(stream: BinaryIO) -> dict[str, np.ndarray]:
    """All variables of a CTranslate2 model file, aliases resolved."""

    def u32() -> int:
        return struct.unpack("<I", stream.read(4))[0]

    def string() -> str:
        (length,) = struct.unpack("<H", stream.read(2))
        return stream.read(length)[:-1].decode("utf-8")

    u32(), string(), u32()  # version, spec name, revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(u32()):
        name = string()
        rank = stream.read(1)[0]
        shape = [u32() for _ in range(rank)]
        dtype = DTYPES[stream.read(1)[0]]
        data = stream.read(u32())
        variables[name] = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    alias_bytes = stream.read(4)
    if len(alias_bytes) == 4:
        for _ in range(struct.unpack("<I", alias_bytes)[0]):
            alias, target = string(), string()
            variables[alias] = variables[target]
    return variables


def _layer_count(variables: dict[str, np.ndarray], side: str) -> int:
    pattern = re.compile(rf"^{side}/layer_(\d+)/")
    return 1 + max(int(m.group(1)) for name in variables if (m := pattern.match(name)))


def _copy(state: dict, prefix: str, variables: dict, source: str) -> None:
    for ct2_key, torch_key in LINEAR.items():
        if f"{source}/{ct2_key}" in variables:
            state[f"{prefix}.{torch_key}"] = torch.from_numpy(variables[f"{source}/{ct2_key}"])


def _split_qkv(state: dict, prefix: str, variables: dict, source: str, parts: Iterable[str]) -> None:
    """CTranslate2 stacks projections (q,k,v or k,v) in one matrix; Whisper's key has no bias."""
    parts = list(parts)
    weights = np.split(variables[f"{source}/weight"], len(parts))
    biases = np.split(variables[f"{source}/bias"], len(parts))
    for part, weight, bias in zip(parts, weights, biases):
        state[f"{prefix}.{part}.weight"] = torch.from_numpy(weight.copy())
        if part != "key":
            state[f"{prefix}.{part}.bias"] = torch.from_numpy(bias.copy())


def to_whisper_checkpoint(variables: dict[str, np.ndarray]) -> dict:
    """Map CTranslate2 Whisper variables onto ``whisper.model.Whisper``'s state dict."""
    from whisper.model import ModelDimensions

    state: dict[str, torch.Tensor] = {}
    for i in range(n_audio_layer := _layer_count(variables, "encoder")):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        _split_qkv(state, f"{dst}.attn", variables, f"{src}/self_attention/linear_0", ("query", "key", "value"))
        _copy(state, f"{dst}.attn.out", variables, f"{src}/self_attention/linear_1")
        _copy(state, f"{dst}.attn_ln", variables, f"{src}/self_attention/layer_norm")
        _copy(state, f"{dst}.mlp.0", variables, f"{src}/ffn/linear_0")
        _copy(state, f"{dst}.mlp.2", variables, f"{src}/ffn/linear_1")
        _copy(state, f"{dst}.mlp_ln", variables, f"{src}/ffn/layer_norm")
    for i in range(n_text_layer := _layer_count(variables, "decoder")):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        _split_qkv(state, f"{dst}.attn", variables, f"{src}/self_attention/linear_0", ("query", "key", "value"))
        _copy(state, f"{dst}.attn.out", variables, f"{src}/self_attention/linear_1")
        _copy(state, f"{dst}.attn_ln", variables, f"{src}/self_attention/layer_norm")
        _copy(state, f"{dst}.cross_attn.query", variables, f"{src}/attention/linear_0")
        _split_qkv(state, f"{dst}.cross_attn", variables, f"{src}/attention/linear_1", ("key", "value"))
        _copy(state, f"{dst}.cross_attn.out", variables, f"{src}/attention/linear_2")
        _copy(state, f"{dst}.cross_attn_ln", variables, f"{src}/attention/layer_norm")
        _copy(state, f"{dst}.mlp.0", variables, f"{src}/ffn/linear_0")
        _copy(state, f"{dst}.mlp.2", variables, f"{src}/ffn/linear_1")
        _copy(state, f"{dst}.mlp_ln", variables, f"{src}/ffn/layer_norm")
    _copy(state, "encoder.conv1", variables, "encoder/conv1")
    _copy(state, "encoder.conv2", variables, "encoder/conv2")
    _copy(state, "encoder.ln_post", variables, "encoder/layer_norm")
    _copy(state, "decoder.ln", variables, "decoder/layer_norm")
    state["encoder.positional_embedding"] = torch.from_numpy(variables["encoder/position_encodings/encodings"])
    state["decoder.positional_embedding"] = torch.from_numpy(variables["decoder/position_encodings/encodings"])
    state["decoder.token_embedding.weight"] = torch.from_numpy(variables["decoder/embeddings/weight"])

    audio_state = variables["encoder/conv1/weight"].shape[0]
    dims = ModelDimensions(
        n_mels=variables["encoder/conv1/weight"].shape[1],
        n_audio_ctx=variables["encoder/position_encodings/encodings"].shape[0],
        n_audio_state=audio_state,
        n_audio_head=int(variables["encoder/num_heads"]),
        n_audio_layer=n_audio_layer,
        n_vocab=variables["decoder/embeddings/weight"].shape[0],
        n_text_ctx=variables["decoder/position_encodings/encodings"].shape[0],
        n_text_state=variables["decoder/embeddings/weight"].shape[1],
        n_text_head=int(variables["decoder/num_heads"]),
        n_text_layer=n_text_layer,
    )
    return {"dims": asdict(dims), "model_state_dict": state}


def convert(parts: list[Path], output: Path) -> Path:
    """Convert a ``model.bin`` (or its parts, in order) to a Whisper checkpoint at ``output``."""
    blob = b"".join(Path(part).read_bytes() for part in parts)
    checkpoint = to_whisper_checkpoint(read_ct2_variables(io.BytesIO(blob)))
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_suffix(output.suffix + ".partial")
    torch.save(checkpoint, temporary)
    temporary.replace(output)
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_bin", nargs="+", type=Path, help="model.bin, or its parts in order")
    parser.add_argument("output", type=Path, help="checkpoint to write (.pt)")
    args = parser.parse_args(argv)
    print(convert(args.model_bin, args.output))


if __name__ == "__main__":
    main()
