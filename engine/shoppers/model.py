"""Shopper and product vectors, and the learned scorer that ranks products for a shopper.

    U = σ(W1 · [U_browse; U_purchase; U_search])        the shopper
    G = σ(W2 · [G_image; G_text; G_numeric])            a product
    R = σ(W3 · [U; G; U⊙G; query_similarity; affinity])  how well they fit, for this query

``G_image`` and ``G_text`` are the product's own CLIP vectors read from the vector store (no second
copy of the catalogue's embeddings); ``G_numeric`` is rating, log price and one-hots of category and
colour, and, when reviews are given, their block: whether the product has reviews, mean stars, log
review count, mean sentiment and one score per aspect (:data:`engine.reviews.summary.REVIEW_FEATURES`,
from the privately released review statistics). ``U_browse``/``U_purchase`` are recency- and interest-weighted means of the raw product
features of viewed and carted/bought products; ``U_search`` is the mean CLIP text vector of recent
searches. ``affinity`` is the cosine between the product's raw features and the shopper's browse +
purchase means: the "average of history" signal, given to W3 so it can weigh it against the query.
W1, W2, W3 are learned from interaction logs (:mod:`engine.recommend`).

A product's row is the same whether it comes from :meth:`ProductFeatures.build` (every product, for
training and evaluation) or is built on demand for a few products while serving
(:func:`numeric_features` and :func:`price_scale` are shared by both). Log price is divided by
``log(1 + the catalogue's highest price)``, one number per catalogue version.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from engine.catalogue.products import Product

HALF_LIFE_EVENTS = 20  # in the simulator, an event's weight halves every 20 newer events
HALF_LIFE_SECONDS = 7 * 24 * 3600  # in the app, every week
INTEREST = {"view": 1.0, "cart": 3.0, "purchase": 5.0}


def price_scale(prices: Iterable[float]) -> float:
    """The divisor of log price: log(1 + the highest price), so the dearest product scores 1."""
    return math.log1p(max(prices, default=1.0)) or 1.0


def numeric_features(product: Product, scale: float, categories: Sequence[str], colours: Sequence[str]) -> np.ndarray:
    """The numeric block of G without reviews: rating, log price, category and colour one-hots."""
    values = [(product.rating or 0.0) / 5.0, math.log1p(product.price) / scale]
    values += [float(product.category == c) for c in categories] + [float(product.colour == c) for c in colours]
    return np.asarray(values, np.float32)


class FeatureRows(Protocol):
    """Product feature rows by product id: all of them (:class:`ProductFeatures`) or a few (:class:`RowSet`)."""

    clip_dim: int

    @property
    def width(self) -> int: ...

    def row(self, product_id: str | None) -> np.ndarray | None: ...


@dataclass
class ProductFeatures:
    """Raw features of every indexed product, aligned by row (training and evaluation; serving uses :class:`RowSet`)."""

    ids: list[str]
    products: list[Product]
    matrix: np.ndarray  # (n, 2·clip_dim + numeric)
    clip_dim: int
    review_dim: int = 0  # width of the review block at the end of each row (0: no review features)

    @classmethod
    def build(cls, products: Sequence[Product], image: dict[str, np.ndarray], text: dict[str, np.ndarray],
              categories: Sequence[str], colours: Sequence[str], reviews: Mapping[str, np.ndarray] | None = None,
              scale: float | None = None) -> ProductFeatures:  # fmt: skip
        """``reviews``: the review block per product id (missing ids get zeros); None leaves it out.
        ``scale``: the log-price divisor; by default :func:`price_scale` of these products."""
        products = [p for p in products if p.id in image and p.id in text]
        scale = scale if scale is not None else price_scale(p.price for p in products)
        review_dim = len(next(iter(reviews.values()))) if reviews else 0
        rows = []
        for product in products:
            block = reviews.get(product.id, np.zeros(review_dim, np.float32)) if reviews else []
            numeric = numeric_features(product, scale, categories, colours)
            rows.append(np.concatenate([image[product.id], text[product.id], numeric, block]))
        clip_dim = len(next(iter(image.values()))) if image else 0
        matrix = np.stack(rows).astype(np.float32) if rows else np.zeros((0, 2 * clip_dim), np.float32)
        return cls([p.id for p in products], list(products), matrix, clip_dim, review_dim)

    @cached_property
    def by_id(self) -> dict[str, Product]:
        return dict(zip(self.ids, self.products))

    @cached_property
    def _index(self) -> dict[str, int]:
        return {pid: i for i, pid in enumerate(self.ids)}

    def index(self) -> dict[str, int]:
        return self._index

    @property
    def width(self) -> int:
        return self.matrix.shape[1]

    def row(self, product_id: str | None) -> np.ndarray | None:
        at = self._index.get(product_id) if product_id is not None else None
        return self.matrix[at] if at is not None else None


@dataclass(frozen=True)
class RowSet:
    """The feature rows of a few products, built on demand (products without vectors are absent)."""

    rows: Mapping[str, np.ndarray]
    width: int
    clip_dim: int

    def row(self, product_id: str | None) -> np.ndarray | None:
        return self.rows.get(product_id) if product_id is not None else None

    def stack(self, product_ids: Sequence[str]) -> np.ndarray:
        """Rows of ``product_ids`` stacked in that order (every id must have a row)."""
        if not product_ids:
            return np.zeros((0, self.width), np.float32)
        return np.stack([self.rows[pid] for pid in product_ids])


def weighted_mean(vectors: list[np.ndarray], weights: list[float], dim: int) -> np.ndarray:
    if not vectors or sum(weights) <= 0:
        return np.zeros(dim, np.float32)
    return (np.average(np.stack(vectors), axis=0, weights=weights)).astype(np.float32)


def shopper_inputs(features: FeatureRows, events: Sequence[tuple[str, str | None, np.ndarray | None, float]]) -> np.ndarray:
    """[U_browse; U_purchase; U_search] from (kind, product id, query vector, age) events.

    ``age`` is in the same unit as the half-life the caller uses (events in the simulator, seconds
    scaled to events in the app); weights decay as 0.5 ** (age / 20). Each part is a normalised
    weighted mean, so adding the same time to every age leaves the result unchanged.
    """
    browse, browse_w, bought, bought_w, searched, searched_w = [], [], [], [], [], []
    for kind, product_id, query_vector, age in events:
        decay = 0.5 ** (age / HALF_LIFE_EVENTS)
        row = features.row(product_id) if kind in INTEREST else None
        if kind == "search" and query_vector is not None:
            searched.append(query_vector)
            searched_w.append(decay)
        elif row is not None and kind == "view":
            browse.append(row)
            browse_w.append(decay * INTEREST[kind])
        elif row is not None and kind in ("cart", "purchase"):
            bought.append(row)
            bought_w.append(decay * INTEREST[kind])
    width = features.width
    return np.concatenate([weighted_mean(browse, browse_w, width), weighted_mean(bought, bought_w, width),
                           weighted_mean(searched, searched_w, features.clip_dim)])  # fmt: skip


class ShopperModel(nn.Module):
    """W1, W2, W3 of the module docstring."""

    def __init__(self, product_dim: int, query_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.config = {"product_dim": product_dim, "query_dim": query_dim, "hidden": hidden}
        self.w1 = nn.Linear(2 * product_dim + query_dim, hidden)
        self.w2 = nn.Linear(product_dim, hidden)
        self.w3 = nn.Linear(3 * hidden + 2, 1)

    def shopper(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.w1(inputs))

    def product(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.w2(features))

    def logits(self, shopper_in: torch.Tensor, product_in: torch.Tensor, query_similarity: torch.Tensor) -> torch.Tensor:
        """Scores before the final sigmoid. ``shopper_in`` rows pair with ``product_in`` rows, or one
        shopper row serves them all (W1 then runs once and its output is broadcast, never copied)."""
        u, g = self.shopper(shopper_in), self.product(product_in)
        width = product_in.shape[-1]
        history = shopper_in[..., :width] + shopper_in[..., width : 2 * width]
        affinity = torch.nn.functional.cosine_similarity(history, product_in, dim=-1, eps=1e-6)
        extra = torch.stack([query_similarity, affinity], dim=-1)
        u = u.expand_as(g)
        return self.w3(torch.cat([u, g, u * g, extra], dim=-1)).squeeze(-1)

    def forward(self, shopper_in: torch.Tensor, product_in: torch.Tensor, query_similarity: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(shopper_in, product_in, query_similarity))

    def save(self, path: Path, meta: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"config": self.config, "state": self.state_dict(), "meta": meta}, path)

    @classmethod
    def load(cls, path: Path) -> tuple[ShopperModel, dict]:
        """The model saved at ``path``. Only tensors and plain data are read (``weights_only``): a file
        that tries to run code when unpickled is refused, not executed."""
        saved = torch.load(path, weights_only=True)
        model = cls(**saved["config"])
        model.load_state_dict(saved["state"])
        model.eval()
        return model, saved["meta"]

    def rank(self, shopper_in: np.ndarray, product_rows: np.ndarray, query_similarity: np.ndarray) -> np.ndarray:
        """Scores of ``product_rows`` for one shopper: U and the history mean are computed once."""
        with torch.no_grad():
            shopper = torch.from_numpy(np.ascontiguousarray(shopper_in, np.float32))[None, :]
            products = torch.from_numpy(np.ascontiguousarray(product_rows, np.float32))
            return self(shopper, products, torch.from_numpy(np.asarray(query_similarity, np.float32))).numpy()
