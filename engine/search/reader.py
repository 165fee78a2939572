"""Reading the index into a :class:`~engine.search.snapshot.Snapshot`: products, BM25 and vectors.

The index's version is read before and after the products: when both agree and no writer was at
work, the products are exactly that version, and its products, BM25 index and vector table may be
saved and loaded under it (:class:`~engine.search.snapshot.SavedIndexes`). Products saved for the
version read first are that version, whatever a writer does next. A restart over an unchanged index
so reads nothing from the store but its version marker and its count of products.

A new settled version (the command-line indexer changed a few products) is read as the changes to
one the app already holds exactly: the snapshot it replaces, or after a restart the newest version
saved. Only the products written since are read (:meth:`ProductStore.changes_since`); the rest is
copied. At 100k products, after 100 were re-written, an app restarting that way was ready in 12.9 s
against 26.7 s reading everything again (``bench/scale.py``); most of what is left is rebuilding the
BM25 index and the spelling vocabulary, which are still built whole.
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

CATCH_UP_SHARE = 0.5  # when more of the catalogue than this was written, it is read whole instead


class SnapshotReader:
    """Builds snapshots of one store, with what was saved for its versions."""

    def __init__(self, store: ProductStore, saved: SavedIndexes) -> None:
        self.store = store
        self.saved = saved

    def read(self, sequence: int, catalogue: Path | None, earlier: Snapshot | None) -> Snapshot:
        """The index as it is now, as snapshot number ``sequence``: loaded when saved for this version, else
        read as the changes to an earlier version (:meth:`_catch_up`), else read whole (the products in one
        pass); and saved. ``earlier`` is the snapshot it replaces."""
        before = self.store.follow()
        saved = self._saved_products(before)
        if saved is None:
            caught_up = self._catch_up(sequence, catalogue, before, earlier)
            if caught_up is not None:
                return caught_up
        products = saved if saved is not None else self.store.catalogue()
        whole = saved is not None or (before is not None and before.settled and self.store.catalogue_version() == before)
        settled = before if whole else None
        if settled is not None and saved is None and products:
            self.saved.save_products(settled, products)
        vectors, exact = self._vector_table(products, settled, earlier)
        return Snapshot.build(products, sequence, catalogue=catalogue, lexical=self.saved.lexicon(settled),
                              read_at=before or CatalogueVersion("", 0), vectors=vectors, exact=exact)  # fmt: skip

    def _catch_up(self, sequence: int, catalogue: Path | None, version: CatalogueVersion | None,
                  earlier: Snapshot | None) -> Snapshot | None:  # fmt: skip
        """Settled ``version`` as an earlier version plus what was written since: only the products written
        are read (their records and vectors), the rest is copied. The earlier version is ``earlier`` when it
        holds one exactly, else (a restart after another process changed the index) the newest one saved.

        None, and the caller reads everything, when the records cannot tell what changed (see
        :meth:`ProductStore.changes_since`), when most products changed, when the store does not hold the
        records expected (a deletion or a write cut short), or when a writer began meanwhile.
        """
        if (version is None or not version.settled or self.store.space is None
                or self.store.followed != version):  # fmt: skip
            return None  # (not followed: this process's own writer holds the store, whose client may not see it)
        usable = earlier is not None and earlier.exact and earlier.vectors is not None
        since = earlier.catalogue if usable else self.saved.newest_before(version)
        changes = self.store.changes_since(since) if since is not None else None
        if changes is None or changes.version != version or len(changes.written) > CATCH_UP_SHARE * changes.text_records:
            return None
        baseline = (earlier.products, earlier.vectors) if usable else self._saved_version(since)
        if baseline is None:
            return None
        written = self.store.products(sorted(changes.written))  # those that still have a text record
        products = {p.id: p for p in baseline[0] if p.id not in changes.written} | written
        if len(products) != changes.text_records:  # some were deleted: the ids say which
            listed = self.store.product_ids()
            products = {pid: product for pid, product in products.items() if pid in listed}
        ids = sorted(products)
        table = VectorTable.read(ids, self.store.space.dim, self.store.record_vectors,
                                 reuse=(baseline[1], lambda pid: pid not in changes.written))  # fmt: skip
        image_only = len(changes.written) - len(written)  # written since: an image record, no text record
        held = (len(products), table.held("text"), table.held("image") + image_only)
        if held != (changes.text_records, changes.text_records, changes.image_records):
            log.warning("index version %s: the store does not hold the records expected after %s; reading it whole",
                        version, since)  # fmt: skip
            return None
        if self.store.catalogue_version() != version:  # a writer began meanwhile
            return None
        ordered = [products[pid] for pid in ids]
        self.saved.save_products(version, ordered)
        table = self._saved_table(version, table)
        log.info("index version %s: read the %d products written since %s, kept %d", version, len(written), since,
                 len(ordered) - len(written))  # fmt: skip
        return Snapshot.build(ordered, sequence, catalogue=catalogue, lexical=self.saved.lexicon(version), read_at=version,
                              vectors=table, exact=True)  # fmt: skip

    def _saved_version(self, version: CatalogueVersion) -> tuple[list[Product], VectorTable] | None:
        """The products and vectors saved for ``version``, or None."""
        products = self.saved.load_products(version)
        vectors = self.saved.load_vectors(version, [p.id for p in products], self.store.space.dim) if products else None
        return (products, vectors) if vectors is not None else None

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
                      earlier: Snapshot | None) -> tuple[VectorTable | None, bool]:  # fmt: skip
        """The products' vectors, and whether they are exactly ``version``'s: loaded when saved for
        ``version``, else read from the store (and saved when the version still stands after the read).

        A snapshot taken while a writer works (``version`` None: the app indexing its own catalogue
        batch by batch) copies the rows of products whose record is unchanged from ``earlier`` and
        reads only the rest; the settled snapshot at the end reads them all.
        """
        if self.store.space is None:
            return None, False
        ids, dim = sorted(p.id for p in products), self.store.space.dim
        table = self.saved.load_vectors(version, ids, dim) if version is not None else None
        if table is not None:
            return table, True
        reuse = None
        if version is None and earlier is not None and earlier.vectors is not None:
            now = {p.id: p for p in products}
            reuse = (earlier.vectors, lambda pid: earlier.by_id.get(pid) == now[pid])
        table = VectorTable.read(ids, dim, self.store.record_vectors, reuse)
        exact = version is not None and self.store.catalogue_version() == version
        return (self._saved_table(version, table) if exact and ids else table), exact

    def _saved_table(self, version: CatalogueVersion, table: VectorTable) -> VectorTable:
        """``table`` saved for ``version`` and memory-mapped back, so only the pages searches touch stay in memory."""
        self.saved.save_vectors(version, table)
        return self.saved.load_vectors(version, table.ids, table.dim) or table
