"""Review photos: stored without their metadata, and checked against the product they claim to show.

A shopper's photo is opened with the same guards as a search photo, scaled to at most 1024 px and
re-encoded as JPEG, so no EXIF (location, camera, time) reaches the disk.

The check compares CLIP vectors. A raw cosine ``s`` between photo and product image means different
things under different models (a random test model puts everything near 1, ViT-B-32 spreads images
over 0.4–0.9), so it is read against the product's *background*, the similarities of the product
image to every other product image in the catalogue:

    z = (s − mean(background)) / std(background)

that is, how many standard deviations closer the photo is to this product than other products are.
A photo is flagged "may not show this product" when its ``z`` is far below its siblings' (the median
``z`` of the product's other review photos, or of all review photos in the catalogue when there are
fewer than two) by more than :data:`GAP`, and is no clear match itself (``z`` < :data:`MATCH`).
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.catalogue.images import load_image
from engine.settings import Settings

MAX_SIDE = 1024
GAP = 2.0  # standard deviations below the siblings' median
MATCH = 2.0  # a photo this far above the background matches, whatever its siblings do
MIN_SIBLINGS = 2


@dataclass(frozen=True)
class PhotoCheck:
    similarity: float  # cosine between the photo and the product image
    z: float  # how far above the product's background similarity, in standard deviations
    reference: float  # the siblings' median z it was compared with
    matches: bool


def save_photo(source: str | Path, settings: Settings, folder: str) -> str:
    """Store an uploaded photo under ``data_dir/folder``; returns its name relative to the data dir."""
    image = load_image(source, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    name = f"{folder}/{uuid.uuid4().hex}.jpg"
    (settings.data_dir / folder).mkdir(parents=True, exist_ok=True)
    image.save(settings.data_dir / name, "JPEG", quality=85)
    return name


def background(product_vector: np.ndarray, others: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of the product image's cosine to the other product images."""
    similarities = others @ product_vector
    return float(similarities.mean()), float(similarities.std()) or 1e-6


def standardise(similarity: float, mean: float, std: float) -> float:
    return (similarity - mean) / max(std, 1e-6)


def check_photos(z_by_review: Mapping[str, float], similarity: Mapping[str, float], catalogue: Sequence[float]) -> dict[str, PhotoCheck]:
    """Check every photo of one product against its siblings (``catalogue``: z of all review photos)."""
    checks = {}
    for review_id, z in z_by_review.items():
        siblings = [other for rid, other in z_by_review.items() if rid != review_id]
        reference_pool = siblings if len(siblings) >= MIN_SIBLINGS else list(catalogue)
        reference = statistics.median(reference_pool) if reference_pool else z
        matches = z >= MATCH or z >= reference - GAP
        checks[review_id] = PhotoCheck(round(similarity[review_id], 4), round(z, 3), round(reference, 3), matches)
    return checks
