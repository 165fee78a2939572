"""What personalisation keeps per catalogue version and per popularity count, for "For you" in O(k).

A :class:`CatalogueView` is one catalogue version as personalisation reads it: the products, the
price scale of its feature rows, an LRU of those rows, and the best rated products in order. A
:class:`Popularity` is the counts shoppers are shown (a private release or the event log) with the
most popular in order. Both keep only the first ``RANKED_DEPTH`` of their order, and say how high a
product beyond it can rank (``rating_bound``, ``bound``), so a cold start merges the two lists with
the threshold algorithm instead of sorting the catalogue.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from engine.catalogue.products import Product
from engine.lru import LRU
from engine.shoppers.model import price_scale

RANKED_DEPTH = 1024  # how far down the best-rated and most-popular lists are kept for cold starts
ROW_CACHE = 4096  # feature rows kept per catalogue version (about 17 MB at CLIP dim 512)


class CatalogueSnapshot(Protocol):
    """What personalisation reads of a search snapshot (:class:`engine.search.snapshot.Snapshot`)."""

    @property
    def products(self) -> Sequence[Product]: ...

    @property
    def by_id(self) -> Mapping[str, Product]: ...


@dataclass(frozen=True, eq=False)  # compared by identity
class CatalogueView:
    """One catalogue version as personalisation needs it, computed in one pass when the version appears."""

    products: Sequence[Product]  # the provider's own list: its identity names the version
    by_id: Mapping[str, Product] | None  # the snapshot's lookup, when there is one (else the store is asked)
    price_scale: float
    best_rated: list[Product]  # the RANKED_DEPTH best rated, ties by id
    rows: LRU[str, np.ndarray] = field(default_factory=lambda: LRU(ROW_CACHE))  # rows without the review block

    @classmethod
    def of(cls, products: Sequence[Product], by_id: Mapping[str, Product] | None) -> CatalogueView:
        best = heapq.nsmallest(RANKED_DEPTH, products, key=lambda p: (-(p.rating or 0.0), p.id))
        return cls(products, by_id, price_scale(p.price for p in products), best)

    def rating_bound(self, depth: int) -> float:
        """The highest rating a product outside the first ``depth`` best rated can have."""
        if depth < len(self.best_rated):
            return self.best_rated[depth].rating or 0.0
        truncated = len(self.best_rated) < len(self.products)
        return (self.best_rated[-1].rating or 0.0) if truncated and self.best_rated else 0.0


@dataclass(frozen=True, eq=False)  # compared by identity
class Popularity:
    """Popularity as shown to shoppers: every product's count, and the most popular ones in order."""

    counts: Mapping[str, float]  # a private release or the event log's counts (kept, not copied)
    min_count: float  # counts below this are not shown, so they count as 0
    ranked: list[tuple[str, float]]  # the RANKED_DEPTH most popular, largest first, ties by id
    complete: bool  # whether ``ranked`` holds every shown product

    @classmethod
    def of(cls, counts: Mapping[str, float], min_count: float) -> Popularity:
        """The same order and rounding as :func:`engine.shoppers.privacy.shown`, without sorting everything."""
        shown = [(pid, value) for pid, value in counts.items() if value >= min_count]
        top = heapq.nsmallest(RANKED_DEPTH, shown, key=lambda kv: (-kv[1], kv[0]))
        return cls(counts, min_count, [(pid, round(value, 1)) for pid, value in top], len(top) == len(shown))

    def count(self, product_id: str) -> float:
        value = self.counts.get(product_id, 0.0)
        return round(value, 1) if value >= self.min_count else 0.0

    def bound(self, depth: int) -> float:
        """The highest count a product outside the first ``depth`` most popular can have."""
        if depth < len(self.ranked):
            return self.ranked[depth][1]
        return self.ranked[-1][1] if self.ranked and not self.complete else 0.0
