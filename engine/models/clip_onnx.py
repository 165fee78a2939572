"""CLIP's two towers exported with ``torch.onnx`` and run in ONNX Runtime (``SHOPLENS_CLIP_RUNTIME``).

:class:`~engine.models.clip.ClipEmbedder` decides whether this runtime serves (its vectors must agree
with fp32 torch's) and where the export is cached; this module writes the export and runs it.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.models.clip import TextPrefix, Tower
from engine.models.devices import onnx_session


class OnnxTowers:
    """Both towers' forward passes in ONNX Runtime, called like an open_clip model's.

    With ``item_by_item`` each input runs on its own. Dynamic INT8 quantisation takes its activation
    scale from the whole input, so in a batch one item's vector would depend on its neighbours; one at
    a time, an image or text embeds the same in any batch (as a query and in the index), and on a CPU
    a loop over items costs about what the batch does.
    """

    def __init__(self, folder: Path, *, threads: int, item_by_item: bool) -> None:
        self._sessions = {tower: onnx_session(folder / f"{tower}.onnx", threads) for tower in ("text", "image")}
        self._item_by_item = item_by_item

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self._run("text", tokens)

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self._run("image", pixels)

    def _run(self, tower: Tower, inputs: torch.Tensor) -> torch.Tensor:
        session = self._sessions[tower]
        parts = inputs.split(1) if self._item_by_item else [inputs]
        return torch.from_numpy(np.concatenate([session.run(None, {"inputs": part.numpy()})[0] for part in parts]))


class _Tower(torch.nn.Module):
    """One tower of an open_clip model as a module of its own: the unit ``torch.onnx.export`` traces."""

    def __init__(self, model: Any, tower: Tower, cut: bool) -> None:
        super().__init__()
        self.model, self.tower = model, tower
        self.text = TextPrefix(model) if cut else model.encode_text

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.text(inputs) if self.tower == "text" else self.model.encode_image(inputs)


def export_towers(model: Any, examples: dict[Tower, torch.Tensor], folder: Path, *, int8: bool, cut: bool = False) -> None:
    """Write ``text.onnx`` and ``image.onnx`` into ``folder``, which appears only once both are complete.

    With ``int8`` every linear layer (attention projections included) gets INT8 weights, per output
    channel, and its input is quantised on the fly (ONNX Runtime's dynamic quantisation); patch and
    token embeddings, attention scores, layer norms and softmax stay fp32.
    """
    from onnxruntime.quantization import quantize_dynamic

    folder.parent.mkdir(parents=True, exist_ok=True)
    with _quiet_exporters(), tempfile.TemporaryDirectory(dir=folder.parent, prefix=".export-") as scratch:
        done = Path(scratch) / "towers"
        done.mkdir()
        for tower, example in examples.items():
            fp32 = Path(scratch if int8 else done) / f"{tower}.onnx"
            dynamic = {0: "batch", 1: "tokens"} if tower == "text" and cut else {0: "batch"}
            if tower == "text" and cut:
                example = example[:, :16]  # shorter than the context, so the length stays a variable
            torch.onnx.export(
                _Tower(model, tower, cut).eval(), (example,), fp32, input_names=["inputs"], output_names=["features"],
                dynamic_shapes={"inputs": dynamic}, dynamo=True, external_data=True, verbose=False,
            )  # fmt: skip
            if int8:
                quantize_dynamic(fp32, done / f"{tower}.onnx", op_types_to_quantize=["MatMul"], per_channel=True)
        try:
            done.rename(folder)
        except OSError:  # another process finished the same export first
            if not folder.is_dir():
                raise


@contextmanager
def _quiet_exporters() -> Iterator[None]:
    """The exporter narrates every pass at INFO, the quantiser too (on the root logger): keep their errors only."""
    loggers = [logging.getLogger(name) for name in ("", "onnxscript", "onnx_ir", "torch.onnx")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
