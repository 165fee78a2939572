"""Reading the index into a :class:`~engine.search.snapshot.Snapshot`: products, BM25 and vectors.

The index's version is read before and after the products: when both agree and no writer was at
work, the products are exactly that version, and its products, BM25 index and vector table may be
saved and loaded under it (:class:`~engine.search.snapshot.SavedIndexes`). Products saved for the
version read first are that version, whatever a writer does next. A restart over an unchanged index
so reads nothing from the store but its version marker and its count of products.
"""

from __future__ import annotations

import logging
from pathlib import Path

from engine.catalogue.products import Product
from engine.catalogue.records import CatalogueVersion
from engine.catalogue.store import ProductStore
from engine.search.snapshot import SavedIndexes, Snapshot
from engine.search.vectors import VectorTable

log = logging.getLogger(__name__)


class SnapshotReader:
    """Builds snapshots of one store, with what was saved for its versions."""

    def __init__(self, store: ProductStore, saved: SavedIndexes) -> None:
        self.store = store
        self.saved = saved

    def read(self, sequence: int, catalogue: Path | None, earlier: Snapshot | None) -> Snapshot:
        """The index as it is now, as snapshot number ``sequence``: products, BM25 and vectors loaded
        when saved for this version, else read (the products in one pass) and saved. ``earlier`` is the
        snapshot it replaces, whose vectors a snapshot taken while a writer works may re-use."""
        before = self.store.follow()
        saved = self._saved_products(before)
        products = saved if saved is not None else self.store.catalogue()
        whole = saved is not None or (before is not None and before.settled and self.store.catalogue_version() == before)
        settled = before if whole else None
        if settled is not None and saved is None and products:
            self.saved.save_products(settled, products)
        return Snapshot.build(products, sequence, catalogue=catalogue, lexical=self.saved.lexicon(settled),
                              read_at=before or CatalogueVersion("", 0),
                              vectors=self._vector_table(products, settled, earlier))  # fmt: skip

    def _saved_products(self, version: CatalogueVersion | None) -> list[Product] | None:
        """The products saved for ``version`` when it is settled and the store holds as many (a cheap check
        that the store was not replaced behind the version marker's back), else None."""
        if version is None or not version.settled:
            return None
        products = self.saved.load_products(version)
        if products is not None and len(products) != self.store.catalogue_size():
            log.warning("ignoring the saved products of index version %s: the store holds a different number", version)
            return None
        return products

    def _vector_table(self, products: list[Product], version: CatalogueVersion | None,
                      earlier: Snapshot | None) -> VectorTable | None:  # fmt: skip
        """The products' vectors: loaded when saved for ``version``, else read from the store (and saved
        when the version still stands after the read).

        A snapshot taken while a writer works (``version`` None: the app indexing its own catalogue
        batch by batch) copies the rows of products whose record is unchanged from ``earlier`` and
        reads only the rest; the settled snapshot at the end reads them all.
        """
        if self.store.space is None:
            return None
        ids, dim = sorted(p.id for p in products), self.store.space.dim
        table = self.saved.load_vectors(version, ids, dim) if version is not None else None
        if table is not None:
            return table
        reuse = None
        if version is None and earlier is not None and earlier.vectors is not None:
            now = {p.id: p for p in products}
            reuse = (earlier.vectors, lambda pid: earlier.by_id.get(pid) == now[pid])
        table = VectorTable.read(ids, dim, self.store.record_vectors, reuse)
        if version is not None and ids and self.store.catalogue_version() == version:
            self.saved.save_vectors(version, table)
            table = self.saved.load_vectors(version, ids, dim) or table  # memory-mapped: pages in what searches touch
        return table
