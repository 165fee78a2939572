"""One immutable view of the indexed catalogue, shared by every request until the next re-index.

A search reads the catalogue many times (words, filters, facets, explanations). Holding one
:class:`Snapshot` for the whole request means a re-index that lands half-way cannot mix two
catalogue versions: the engine builds a new snapshot beside the old one and swaps a single reference.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from engine.catalogue.products import Product
from engine.search.facets import FacetColumns
from engine.search.lexical import LexicalIndex
from engine.search.spelling import SpellingCorrector
from engine.search.synonyms import SynonymSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    version: int
    lexical: LexicalIndex
    columns: FacetColumns
    spelling: SpellingCorrector
    synonyms: SynonymSet
    by_id: dict[str, Product] = field(repr=False)
    currency: str = "USD"  # the catalogue's usual currency, for price labels

    @classmethod
    def build(cls, products: Iterable[Product], version: int, catalogue: Path | None = None) -> Snapshot:
        """Everything searched, built from ``products``; the synonyms come from the catalogue's folder."""
        ordered = sorted(products, key=lambda p: p.id)
        currencies = Counter(p.currency for p in ordered)
        synonyms = SynonymSet.for_catalogue(catalogue, ordered) if catalogue is not None else SynonymSet()
        for problem in synonyms.problems:
            log.warning("%s", problem)
        return cls(version, LexicalIndex(ordered), FacetColumns(ordered), SpellingCorrector.from_products(ordered),
                   synonyms, {p.id: p for p in ordered}, currencies.most_common(1)[0][0] if currencies else "USD")  # fmt: skip

    @property
    def products(self) -> list[Product]:
        return self.lexical.products

    @property
    def colours(self) -> set[str]:
        return self.lexical.colours

    @property
    def categories(self) -> set[str]:
        return self.lexical.categories

    def __len__(self) -> int:
        return len(self.by_id)
