"""Facet counts: how many products each filter value would show, counted over the whole catalogue.

A hybrid search ranks every product that meets the filters (the vectors reach all of them), so the
set a facet describes is "the products meeting the other filters", not the best hundred that happen
to be on screen. Counting there means a facet shows as many results as it says when clicked.
Counts are disjunctive, as in most shops: the colour counts ignore the shopper's own colour choice,
so ticking "red" still shows how many blue ones there are.

The catalogue's filterable fields are kept as numpy columns, so a count is a few vector operations
however large the catalogue is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.catalogue.products import Product
from engine.lru import LRU
from engine.types import Constraints, Filters

# Facet values are what the filters take: a price band "low-high" ("250-" has no upper bound), a rating floor.
PRICE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("0-25", 0, 25), ("25-50", 25, 50), ("50-100", 50, 100), ("100-250", 100, 250), ("250-", 250, float("inf")),
)  # fmt: skip
RATING_BANDS = (("4", 4.0), ("3", 3.0))
REVIEW_BANDS = (("4r", 4.0),)  # by the mean stars of the product's reviews
NO_RATING = -1.0
FACET_CACHE = 256  # filter combinations whose counts are kept (see FacetColumns.counts)


class FacetColumns:
    """The filterable fields of a fixed list of products, as arrays aligned with it."""

    def __init__(self, products: Sequence[Product]) -> None:
        self.categories = sorted({p.category for p in products})
        self.colours = sorted({p.colour for p in products if p.colour})
        category_code = {name: i for i, name in enumerate(self.categories)}
        colour_code = {name: i for i, name in enumerate(self.colours)}
        self.category = np.fromiter((category_code[p.category] for p in products), np.int32, len(products))
        self.colour = np.fromiter((colour_code.get(p.colour, -1) for p in products), np.int32, len(products))
        self.price = np.fromiter((p.price for p in products), np.float64, len(products))
        self.rating = np.fromiter((NO_RATING if p.rating is None else p.rating for p in products), np.float64, len(products))
        self._counted: LRU[Constraints, tuple[np.ndarray | None, dict[str, dict[str, int]]]] = LRU(FACET_CACHE)

    def __len__(self) -> int:
        return len(self.price)

    def mask(self, filters: Filters, review_stars: np.ndarray | None = None) -> np.ndarray:
        """Which products meet ``filters``; ``review_stars`` is each product's mean review stars (NaN: none)."""
        keep = np.ones(len(self), bool)
        if filters.categories:
            keep &= np.isin(self.category, [i for i, c in enumerate(self.categories) if c in filters.categories])
        if filters.colours:
            keep &= np.isin(self.colour, [i for i, c in enumerate(self.colours) if c in filters.colours])
        if filters.price_min is not None:
            keep &= self.price >= filters.price_min
        if filters.price_max is not None:
            keep &= self.price <= filters.price_max
        if filters.rating_min is not None:
            keep &= self.rating >= filters.rating_min
        if filters.review_min is not None:
            keep &= (review_stars >= filters.review_min) if review_stars is not None else False
        return keep

    def matching(self, constraints: Constraints, within: np.ndarray | None = None,
                 review_stars: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
        keep = self.mask(constraints.own, review_stars) & self.mask(constraints.words, review_stars)
        return keep if within is None else keep & within

    def counts(self, constraints: Constraints, within: np.ndarray | None = None,
               review_stars: np.ndarray | None = None) -> dict[str, dict[str, int]]:  # fmt: skip
        """Per facet, products per value among those meeting every other filter (and ``within``, if given).

        Without ``within`` the counts depend only on the filters (and the review analysis), the same for
        every search under them: the last ``FACET_CACHE`` filter combinations are kept, per
        ``review_stars`` array, and copies handed out. Shoppers click the same few facets, and at a
        million products a count takes about 20 ms.
        """
        if within is not None:
            return self._count(constraints, within, review_stars)
        kept = self._counted.get(constraints)
        if kept is None or kept[0] is not review_stars:
            kept = (review_stars, self._count(constraints, None, review_stars))
            self._counted.put(constraints, kept)  # one tuple swapped whole: safe to share between threads
        return {facet: dict(values) for facet, values in kept[1].items()}

    def _count(self, constraints: Constraints, within: np.ndarray | None,
               review_stars: np.ndarray | None) -> dict[str, dict[str, int]]:  # fmt: skip
        words = self.mask(constraints.words, review_stars)
        words = words if within is None else words & within
        own = constraints.own

        def base(dimension: str) -> np.ndarray:
            return words & self.mask(own.without(dimension), review_stars)

        by_category = np.bincount(self.category[base("categories")], minlength=len(self.categories))
        colour_codes = self.colour[base("colours")]
        by_colour = np.bincount(colour_codes[colour_codes >= 0], minlength=len(self.colours))
        prices = self.price[base("price")]
        rated = base("rating")
        ratings = self.rating[rated]
        reviewed = review_stars[rated] if review_stars is not None else np.zeros(0)
        return {
            "category": {name: int(n) for name, n in zip(self.categories, by_category) if n},
            "colour": {name: int(n) for name, n in zip(self.colours, by_colour) if n},
            "price": {name: n for name, low, high in PRICE_BANDS if (n := int(((prices >= low) & (prices <= high)).sum()))},
            "rating": {name: n for name, floor in RATING_BANDS if (n := int((ratings >= floor).sum()))}
            | {name: n for name, floor in REVIEW_BANDS if (n := int((reviewed >= floor).sum()))},
        }
