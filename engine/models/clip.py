"""Text and images into one CLIP space with open_clip.

The model loads on first use (or on :meth:`ClipEmbedder.warm_up`), once, behind a lock, and is then
shared by indexing and search. Every vector leaving this module is float32 and L2-normalised, so a
dot product is a cosine similarity.

open_clip always builds the model, loads its weights, preprocesses images and tokenises text. What
runs the two towers' forward passes on a CPU is ``SHOPLENS_CLIP_RUNTIME``: fp32 torch, or ONNX
Runtime with fp32 or INT8 weights (the default; :mod:`engine.models.clip_onnx`). For ONNX Runtime
both towers are exported once with ``torch.onnx`` and cached on disk, keyed by model, weights,
runtime and library versions, so a restart only loads them. The runtime is not part of the vector
space: at every load the runtime's vectors are compared with fp32 torch's, and a runtime that does
not reach a cosine of :data:`SAME_SPACE` is not used (CLIP falls back to torch, with a warning). So
an index built with one runtime serves queries embedded by another, and switching runtimes needs no
re-index.

A query is a few words, but CLIP's tokenizer pads every text to 77 tokens. In a CLIP text tower
with causal attention that pools the end-of-text token (OpenAI's CLIP and most open_clip models),
nothing after that token reaches the vector, so the padding is cut before the forward pass
(:class:`TextPrefix`): the same vector, for a fraction of the work. Other text towers get all 77.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from PIL import Image

from engine.errors import ModelUnavailableError, brief
from engine.models.devices import resolve_device
from engine.settings import Settings

log = logging.getLogger(__name__)

Tower = Literal["text", "image"]
SAME_SPACE = 0.99  # least cosine with fp32 torch for a runtime's vectors to count as the same space
PROBE_TEXTS = ["red running shoes", "跑步鞋", "a wooden kitchen table with four chairs, a lamp and a rug " * 8]


@dataclass(frozen=True)
class VectorSpace:
    """Which model made a vector, and its length: vectors of different spaces never mix."""

    model_id: str
    dim: int


class Towers(Protocol):
    """The forward passes of both towers: an open_clip model, or :class:`OnnxTowers`."""

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor: ...

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor: ...


@dataclass
class _LoadedClip:
    model: Any  # the open_clip model, fp32 torch
    towers: Towers  # what runs the forward passes: ``model`` itself, or ONNX Runtime
    runtime: str
    preprocess: Callable[[Image.Image], torch.Tensor]
    tokenizer: Callable[[Sequence[str]], torch.Tensor]
    device: str
    dim: int
    cut_padding: bool  # the text tower ignores what follows the end-of-text token (see TextPrefix)


class TextPrefix(torch.nn.Module):
    """A CLIP text tower that accepts tokens cut after the end-of-text token: ``encode_text`` with the
    positional embedding and the causal mask cut to the input's length. For a causal, end-of-text
    pooled tower this gives the vector of the full 77 tokens (checked at load, see :meth:`applies`)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    @staticmethod
    def applies(model: Any) -> bool:
        import open_clip

        return (isinstance(model, open_clip.CLIP) and getattr(model, "attn_mask", None) is not None
                and getattr(model, "text_pool_type", None) == "argmax")  # fmt: skip

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        from open_clip.transformer import text_global_pool

        model, length = self.model, tokens.shape[1]
        cast = model.transformer.get_cast_dtype()
        x = model.token_embedding(tokens).to(cast) + model.positional_embedding[:length].to(cast)
        x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:length, :length]))
        x = text_global_pool(x, tokens, model.text_pool_type)
        projection = model.text_projection
        if projection is None:
            return x
        return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection


def cut_padding(tokens: torch.Tensor) -> torch.Tensor:
    """Tokens up to the batch's last end-of-text token (the highest id in each row), rounded up to 8."""
    length = int(tokens.argmax(dim=-1).max()) + 1
    return tokens[:, : min(tokens.shape[1], -(-length // 8) * 8)]


class _TorchTowers:
    """fp32 torch, with the text tower taking cut tokens."""

    def __init__(self, model: Any) -> None:
        self.text, self.encode_image = TextPrefix(model), model.encode_image

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.text(tokens)


class ClipEmbedder:
    """open_clip wrapper: ``embed_texts`` and ``embed_images`` in batches, under ``no_grad``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loaded: _LoadedClip | None = None
        self._lock = threading.Lock()
        self.calls = 0  # model forward passes, for tests and logs

    @property
    def pretrained(self) -> str | None:
        tag = self.settings.clip_pretrained.strip()
        if self.settings.clip_random_weights:
            return None
        return str(Path(tag).expanduser()) if Path(tag).expanduser().is_file() else tag

    @property
    def space(self) -> VectorSpace:
        weights = self.pretrained or f"random-seed{self.settings.random_seed}"
        if self.pretrained and Path(self.pretrained).is_file():
            weights = f"{Path(weights).name}:{Path(weights).stat().st_size}"
        return VectorSpace(model_id=f"open_clip:{self.settings.clip_model}:{weights}", dim=self._clip.dim)

    @property
    def runtime(self) -> str:
        """What runs the forward passes: ``torch``, ``onnx`` or ``onnx-int8`` (after any fallback)."""
        return self._clip.runtime

    @property
    def _clip(self) -> _LoadedClip:
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = self._load()
        return self._loaded

    def _load(self) -> _LoadedClip:
        import open_clip

        name, pretrained = self.settings.clip_model, self.pretrained
        if self.settings.clip_config_dir:
            open_clip.add_model_config(self.settings.clip_config_dir)
        device = resolve_device(self.settings.device)
        started = time.perf_counter()
        log.info("loading CLIP %s (%s) on %s ...", name, pretrained or "random weights", device)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.settings.random_seed)
                model, _, preprocess = open_clip.create_model_and_transforms(
                    name, pretrained=pretrained, device=device,
                    cache_dir=str(self.settings.model_cache_dir) if self.settings.model_cache_dir else None,
                )  # fmt: skip
            tokenizer = open_clip.get_tokenizer(name)
        except Exception as error:  # unknown name, no network, bad checkpoint: one line for the operator
            raise ModelUnavailableError(
                f"Could not load CLIP model '{name}' with weights '{pretrained}' "
                f"({brief(error)}). "
                "If this machine cannot download weights, set SHOPLENS_CLIP_PRETRAINED to a local checkpoint file."
            ) from error
        model.eval()
        with torch.no_grad():
            dim = int(model.encode_text(tokenizer(["probe"]).to(device)).shape[-1])
        if pretrained is None:
            log.warning("CLIP %s has RANDOM weights: search results are meaningless (fine for tests).", name)
        cut = TextPrefix.applies(model) and _prefix_agrees(model, tokenizer)
        towers, runtime = self._runtime(model, _probes(preprocess, tokenizer), device, cut)
        log.info("CLIP %s ready in %.1f s (dim %d, %s%s)", name, time.perf_counter() - started, dim, runtime,
                 ", text padding cut" if cut else "")  # fmt: skip
        return _LoadedClip(model, towers, runtime, preprocess, tokenizer, device, dim, cut)

    def _runtime(self, model: Any, probes: dict[Tower, torch.Tensor], device: str, cut: bool) -> tuple[Towers, str]:
        """The towers of the configured runtime, or fp32 torch when that runtime cannot serve."""
        runtime = self.settings.clip_runtime
        torch_towers = _TorchTowers(model) if cut else model
        if runtime == "torch":
            return torch_towers, "torch"
        if device != "cpu":
            log.info("CLIP runs in torch on %s (SHOPLENS_CLIP_RUNTIME=%s is for CPUs)", device, runtime)
            return torch_towers, "torch"
        from engine.models import clip_onnx  # imports this module: loaded only when ONNX Runtime is asked for

        try:
            folder = self._onnx_folder(runtime, cut)
            if not folder.is_dir():
                started = time.perf_counter()
                log.info("exporting CLIP to ONNX (%s) in %s ...", runtime, folder)
                clip_onnx.export_towers(model, probes, folder, int8=runtime == "onnx-int8", cut=cut)
                log.info("CLIP exported in %.1f s", time.perf_counter() - started)
            towers = clip_onnx.OnnxTowers(folder, threads=torch.get_num_threads(), item_by_item=runtime == "onnx-int8")
            agreement = _agreement(model, towers, probes)
        except Exception as error:  # an exporter or runtime that cannot handle this model
            log.warning("CLIP runs in torch fp32: %s failed (%s)", runtime, brief(error))
            return torch_towers, "torch"
        cosines = ", ".join(f"{tower} {cosine:.4f}" for tower, cosine in agreement.items())
        if min(agreement.values()) < SAME_SPACE:
            log.warning("CLIP runs in torch fp32: %s vectors are too far from fp32 torch's (least cosine %s; need %.2f)",
                        runtime, cosines, SAME_SPACE)  # fmt: skip
            return torch_towers, "torch"
        log.info("CLIP runs in ONNX Runtime (%s; least cosine with fp32 torch: %s)", runtime, cosines)
        return towers, runtime

    def _onnx_folder(self, runtime: str, cut: bool = True) -> Path:
        """Where the exported towers of this model, weights and runtime are cached."""
        import onnxruntime
        import open_clip

        name, pretrained = self.settings.clip_model, self.pretrained
        if pretrained is None:
            weights = f"random-seed{self.settings.random_seed}"
        elif Path(pretrained).is_file():
            stat = Path(pretrained).stat()
            weights = f"{Path(pretrained).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        else:
            weights = pretrained
        identity = {
            "model": name, "config": open_clip.get_model_config(name), "weights": weights, "runtime": runtime, "text": "cut" if cut else "77",
            "versions": [torch.__version__, open_clip.__version__, onnxruntime.__version__],
        }  # fmt: skip
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
        root = self.settings.model_cache_dir or Path.home() / ".cache" / "shoplens"
        return root / "clip-onnx" / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name)}-{runtime}-{digest}"

    def warm_up(self) -> None:
        """Load the model and run both towers once."""
        self.embed_texts(["warm up"])
        self.embed_images([Image.new("RGB", (64, 64), "white")])

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        clip = self._clip

        def encode(batch: list[str]) -> torch.Tensor:
            tokens = clip.tokenizer(batch)
            return clip.towers.encode_text((cut_padding(tokens) if clip.cut_padding else tokens).to(clip.device))

        return self._batched(list(texts), encode)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """RGB images (see :mod:`engine.catalogue.images` for turning uploads into those)."""
        clip = self._clip

        def encode(batch: list[Image.Image]) -> torch.Tensor:
            return clip.towers.encode_image(torch.stack([clip.preprocess(image) for image in batch]).to(clip.device))

        return self._batched(list(images), encode)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """One RGB image as the image tower's input; thread-safe, so a pipeline can prepare images in threads."""
        return self._clip.preprocess(image)

    def embed_pixels(self, pixels: torch.Tensor) -> np.ndarray:
        """Images already turned into the tower's input by :meth:`preprocess`, stacked."""
        clip = self._clip
        return self._batched(pixels, lambda batch: clip.towers.encode_image(batch.to(clip.device)))

    def _batched(self, items: Sequence | torch.Tensor, encode: Callable[[Any], torch.Tensor]) -> np.ndarray:
        if not len(items):
            return np.zeros((0, self._clip.dim), dtype=np.float32)
        chunks = []
        size = self.settings.batch_size
        with torch.no_grad():
            for start in range(0, len(items), size):
                self.calls += 1
                features = encode(items[start : start + size]).float()
                chunks.append(torch.nn.functional.normalize(features, dim=-1).cpu().numpy())
        return np.concatenate(chunks).astype(np.float32, copy=False)


def _probes(preprocess: Callable[[Image.Image], torch.Tensor], tokenizer: Callable) -> dict[Tower, torch.Tensor]:
    """A few texts and images, for exporting (batch > 1) and for checking a runtime against fp32 torch."""
    noise = np.random.default_rng(0).integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    gradient = np.broadcast_to(np.linspace(0, 255, 256, dtype=np.uint8)[:, None, None], (256, 256, 3))
    images = [Image.new("RGB", (256, 256), "white"), Image.new("RGB", (300, 200), (200, 30, 40)),
              Image.fromarray(noise), Image.fromarray(np.ascontiguousarray(gradient))]  # fmt: skip
    return {"text": tokenizer(PROBE_TEXTS), "image": torch.stack([preprocess(image) for image in images])}


def _prefix_agrees(model: Any, tokenizer: Callable) -> bool:
    """Whether cutting the padding leaves this model's text vectors as they are (it should, by design)."""
    tokens = tokenizer(PROBE_TEXTS)
    with torch.no_grad():
        full, cut = model.encode_text(tokens), TextPrefix(model)(cut_padding(tokens))
    agrees = bool(torch.allclose(full, cut, atol=1e-4, rtol=1e-3))
    if not agrees:
        log.warning("CLIP text tower: cutting the padding changes its vectors; all 77 tokens are kept")
    return agrees


def _agreement(model: Any, towers: Towers, probes: dict[Tower, torch.Tensor]) -> dict[Tower, float]:
    """Least cosine, per tower, between ``towers``' vectors and fp32 torch's for the same inputs."""
    cosines = {}
    with torch.no_grad():
        for tower, inputs in probes.items():
            reference, candidate = (getattr(source, f"encode_{tower}")(inputs) for source in (model, towers))
            cosines[tower] = float(torch.nn.functional.cosine_similarity(reference, candidate.float()).min())
    return cosines
