"""Text and images into one CLIP space with open_clip.

The model loads on first use (or on :meth:`ClipEmbedder.warm_up`), once, behind a lock, and is then
shared by indexing and search. Every vector leaving this module is float32 and L2-normalised, so a
dot product is a cosine similarity.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.errors import ModelUnavailableError, brief
from engine.models.devices import resolve_device
from engine.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VectorSpace:
    """Which model made a vector, and its length: vectors of different spaces never mix."""

    model_id: str
    dim: int


@dataclass
class _LoadedClip:
    model: Any
    preprocess: Callable[[Image.Image], torch.Tensor]
    tokenizer: Callable[[Sequence[str]], torch.Tensor]
    device: str
    dim: int


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
        log.info("CLIP %s ready in %.1f s (dim %d)", name, time.perf_counter() - started, dim)
        return _LoadedClip(model, preprocess, tokenizer, device, dim)

    def warm_up(self) -> None:
        """Load the model and run both towers once."""
        self.embed_texts(["warm up"])
        self.embed_images([Image.new("RGB", (64, 64), "white")])

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        clip = self._clip
        return self._batched(list(texts), lambda batch: clip.model.encode_text(clip.tokenizer(batch).to(clip.device)))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """RGB images (see :mod:`engine.catalogue.images` for turning uploads into those)."""
        clip = self._clip

        def encode(batch: list[Image.Image]) -> torch.Tensor:
            pixels = torch.stack([clip.preprocess(image) for image in batch]).to(clip.device)
            return clip.model.encode_image(pixels)

        return self._batched(list(images), encode)

    def _batched(self, items: list, encode: Callable[[list], torch.Tensor]) -> np.ndarray:
        if not items:
            return np.zeros((0, self._clip.dim), dtype=np.float32)
        chunks = []
        size = self.settings.batch_size
        with torch.no_grad():
            for start in range(0, len(items), size):
                self.calls += 1
                features = encode(items[start : start + size]).float()
                chunks.append(torch.nn.functional.normalize(features, dim=-1).cpu().numpy())
        return np.concatenate(chunks).astype(np.float32, copy=False)
