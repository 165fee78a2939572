"""Product vectors in Chroma: embedded by default, a Chroma server when ``SHOPLENS_CHROMA_URL`` is set.

Two collections, cosine space, one record per product in each, with deterministic ids: the
collection named ``SHOPLENS_COLLECTION`` holds ``<id>#text`` (the CLIP text vector, whose document
is the product as JSON) and ``<name>-image`` holds ``<id>#image`` (the CLIP image vector). One
collection per kind means a nearest-neighbour query needs no "kind" filter: in Chroma a metadata
filter costs time in proportion to the records it matches, so filtering on the kind made every
search grow with the catalogue. Both records carry the product's content hash, its image file's
digest, size and mtime (so an unchanged image is not read again to hash it), and the fields filters
use. The text collection's metadata records the vector space (model and dimension; opening it with
another space is refused, never mixed) and the catalogue version (:class:`CatalogueVersion`). What
the records hold is in :mod:`engine.catalogue.records`; how the client connects, in
:mod:`engine.catalogue.chroma`.

Every record written carries the number of the write session that wrote it, so a reader holding
the catalogue at one version can ask which products changed since (:meth:`ProductStore.changes_since`)
and read only those (:mod:`engine.catalogue.versions`). The HNSW configuration is in
:mod:`engine.catalogue.hnsw`.

Layout 1 (both kinds in the one collection) is still read as it is, and moved apart by the first
write, which only an indexer holding the writer lock makes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.catalogue import chroma, hnsw, versions
from engine.catalogue.products import ImageStamp, Product
from engine.catalogue.records import (
    CatalogueVersion,
    ContentVersion,
    Inventory,
    VectorMatch,
    content_version,
    image_metadata,
    product_of_record,
    record_id,
    record_metadata,
)
from engine.errors import IndexMismatchError
from engine.models.clip import VectorSpace
from engine.settings import Settings
from engine.types import KINDS, Kind

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 1: image and text records in one collection
PAGE = 2000  # records per write call
READ_PAGE = 5000  # records per read call
IMAGE_SUFFIX = "-image"


@dataclass
class _Session:
    found: int  # the version number when the session began (odd: a writer before it was stopped)
    number: int | None = None  # the odd number this session made the version (None: no change yet)


@dataclass(frozen=True)
class Changes:
    """What the index holds now, against an earlier version of it (:meth:`ProductStore.changes_since`)."""

    version: CatalogueVersion  # the version now
    written: frozenset[str]  # products with a record (either kind) written since the earlier version
    text_records: int  # records in each collection now: a deletion shows as fewer than expected
    image_records: int


class ProductStore:
    """The vector index of one catalogue, in one vector space."""

    def __init__(self, settings: Settings, space: VectorSpace | None, *, rebuild: bool = False) -> None:
        """``space`` None opens the store read-only, for a server without its CLIP model: an existing
        index is read as it is (products, their stored vectors), and nothing can be written."""
        self.settings = settings
        self.space = space
        self._client = chroma.connect(settings)
        self._generation = 0
        self._lock = threading.RLock()  # one write session, or one re-open, at a time
        self._session: _Session | None = None
        self._collection = self._images = None
        if rebuild:
            self.reset()
        else:
            self._collection, self._images = self._open_collections()
        self._followed = self.catalogue_version()  # the catalogue this store's view of the index shows

    @property
    def where(self) -> str:
        return self.settings.chroma_url or str(self.settings.chroma_path)

    @property
    def image_collection(self) -> str:
        return self.settings.collection + IMAGE_SUFFIX

    # --- opening ----------------------------------------------------------------------------------
    def _open_collections(self):
        """(text collection, image collection); the image one is None in layout 1 or when nothing exists yet."""
        name = self.settings.collection
        existing = {collection.name for collection in self._client.list_collections()}
        if self.space is None:
            if name not in existing:
                return None, None
            images = self.image_collection in existing
            return (self._client.get_collection(name, embedding_function=None),
                    self._client.get_collection(self.image_collection, embedding_function=None) if images else None)  # fmt: skip
        if name not in existing:
            log.info("creating collections %s for %s (dim %d) at %s", name, self.space.model_id, self.space.dim, self.where)
            return self._create(name, {"shoplens_model": self.space.model_id, "shoplens_dim": self.space.dim,
                                       "shoplens_schema": SCHEMA_VERSION, **versions.FIRST}), self._create_images()  # fmt: skip
        main = self._client.get_collection(name, embedding_function=None)
        self._check_space(main.metadata or {})
        images = self._client.get_collection(self.image_collection, embedding_function=None) \
            if self.image_collection in existing else None  # fmt: skip
        for collection in filter(None, (main, images)):
            self._tune(collection)
        return main, images

    def _create(self, name: str, metadata: dict[str, Any]):
        return self._client.create_collection(name, embedding_function=None, metadata=metadata,
                                              configuration={"hnsw": hnsw.for_new_collection(self.settings)})  # fmt: skip

    def _create_images(self):
        return self._client.get_or_create_collection(self.image_collection, embedding_function=None,
                                                     metadata={"shoplens_images_of": self.settings.collection},
                                                     configuration={"hnsw": hnsw.for_new_collection(self.settings)})  # fmt: skip

    @property
    def hnsw(self) -> dict[str, Any]:
        """The text collection's HNSW configuration as Chroma holds it (``max_neighbors``, ``ef_search``, ...)."""
        if self._collection is None:
            return {}
        return hnsw.configuration_of(self._client.get_collection(self._collection.name, embedding_function=None))

    def _tune(self, collection) -> None:
        """Apply :func:`engine.catalogue.hnsw.retuned` to an existing collection; M and ef_construction need a rebuild."""
        configured = hnsw.configuration_of(collection)
        changed = hnsw.retuned(self.settings, configured)
        if changed:
            collection.modify(configuration={"hnsw": changed})
            log.info("collection %s: HNSW %s", collection.name,
                     ", ".join(f"{key} {configured.get(key)} -> {value}" for key, value in changed.items()))  # fmt: skip
        built = (configured.get("max_neighbors"), configured.get("ef_construction"))
        wanted = (self.settings.hnsw_m, self.settings.hnsw_ef_construction)
        if configured and built != wanted:
            log.info("collection %s was built with HNSW M=%s, ef_construction=%s; the settings (%s, %s) apply after "
                     "`python -m engine.index --rebuild`", collection.name, *built, *wanted)  # fmt: skip

    def set_ef_search(self, ef_search: int) -> None:
        """Change ef_search on the existing collections (Chroma reads it when it loads an index).

        The store's settings change too: re-opening applies ``hnsw_ef_search`` (see :meth:`_tune`)."""
        self.settings = self.settings.model_copy(update={"hnsw_ef_search": ef_search})
        for collection in filter(None, (self._collection, self._images)):
            collection.modify(configuration={"hnsw": {"ef_search": ef_search}})
        if not self.settings.chroma_url:
            with self._lock:
                self._reconnect()

    def _check_space(self, metadata: dict[str, Any]) -> None:
        model, dim = metadata.get("shoplens_model"), metadata.get("shoplens_dim")
        if model == self.space.model_id and dim == self.space.dim:
            return
        raise IndexMismatchError(
            f"The index '{self.settings.collection}' at {self.where} holds vectors from {model or 'an unknown model'} "
            f"(dim {dim}), but the current model is {self.space.model_id} (dim {self.space.dim}). "
            "Re-index with `python -m engine.index --catalog PATH --rebuild`, or choose another SHOPLENS_COLLECTION."
        )

    def _collection_of(self, kind: Kind):
        """Where ``kind`` records live: their own collection, or (layout 1) the one shared collection."""
        return self._images if kind == "image" and self._images is not None else self._collection

    # --- the catalogue version --------------------------------------------------------------------
    def catalogue_version(self) -> CatalogueVersion | None:
        """The index's current version: one read of the collection's metadata, never a scan."""
        try:
            fresh = self._client.get_collection(self.settings.collection, embedding_function=None)
        except Exception:  # noqa: BLE001 - not there (yet, or any more): no catalogue to follow
            return None
        return versions.version_of(str(fresh.id), fresh.metadata)

    @property
    def followed(self) -> CatalogueVersion | None:
        """The catalogue version this store's view of the index shows (what its embedded client has read)."""
        return self._followed

    def follow(self) -> CatalogueVersion | None:
        """The current version, with this store's view brought up to it when another process moved it.

        A rebuilt index is a new collection: it is opened. An embedded store whose index another
        process changed opens a fresh client, because Chroma's in-process vector index does not see
        other processes' writes; that waits until the writer is done (the version is settled).

        While a thread of this process writes (it holds the store's lock for its whole session), this
        returns at once and reads go on from the files as they are: waiting for the lock here would
        deadlock a reader that holds a lock the writer needs next (the search engine's snapshot lock).
        """
        if not self._lock.acquire(blocking=False):
            return self.catalogue_version()
        try:
            current = self.catalogue_version()
            if current is None or current == self._followed:
                return current
            if self._followed is None or current.collection != self._followed.collection:
                self._reopen()
            elif not self.settings.chroma_url:
                if not current.settled:
                    return current  # a writer is at work: keep reading the files as they were
                self._reconnect()
            self._followed = current
            return current
        finally:
            self._lock.release()

    def _reopen(self) -> None:
        """Open the collections again (e.g. after another process rebuilt the index)."""
        if self.settings.chroma_url:
            self._collection, self._images = self._open_collections()
        else:
            self._reconnect()

    def _reconnect(self) -> None:
        """A fresh embedded client that reads the files as they are now; the old one is closed later."""
        retired = self._client
        self._generation += 1
        self._client = chroma.connect(self.settings, self._generation)
        self._collection, self._images = self._open_collections()
        chroma.retire(retired)
        log.info("re-opened the index at %s to see another process's changes", self.where)

    # --- writing --------------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[None]:
        """Changes made inside are one step for readers (see :class:`CatalogueVersion`).

        The version turns odd at the first change and even when the block ends, however it ends. A
        session that finds an odd version (a writer was killed half-way) settles it even if it
        changes nothing, so readers pick up what that writer left.
        """
        with self._lock:
            if self._session is not None:  # part of an outer session
                yield
                return
            current = self.catalogue_version()
            self._session = _Session(current.number if current else 0)
            try:
                yield
            finally:
                session, self._session = self._session, None
                if session.number is not None or session.found % 2:
                    self._move_version(settled=True, own=session.number)

    def _changing(self) -> None:
        """Called before every change: the session's first one makes the version odd (and the layout current)."""
        if self.space is None:
            raise IndexMismatchError("This index was opened read-only (no CLIP model); it cannot be written.")
        session = self._session
        if session is not None and session.number is None:
            session.number = self._move_version(settled=False)
            self._upgrade()

    def _written_at(self) -> dict[str, int]:
        """The metadata that numbers a record with the write session writing it (called after :meth:`_changing`)."""
        return versions.written_at(self._session.number) if self._session is not None and self._session.number else {}

    def _move_version(self, *, settled: bool, own: int | None = None) -> int:
        """The next odd (``settled`` False) or even number, returned (:func:`engine.catalogue.versions.moved_on`);
        the collection's metadata is replaced whole."""
        metadata = dict(self._client.get_collection(self.settings.collection, embedding_function=None).metadata or {})
        moved = versions.moved_on(metadata, settled=settled, own=own)
        self._collection.modify(metadata={**moved, "shoplens_schema": SCHEMA_VERSION})
        self._followed = versions.version_of(str(self._collection.id), moved)
        return self._followed.number

    def _upgrade(self) -> None:
        """Layout 1 -> 2: move the image records out of the shared collection (no offsets, so no re-scans)."""
        if self._images is not None:
            return
        self._images = self._create_images()
        moved = 0
        while True:
            page = self._collection.get(where={"kind": "image"}, include=["embeddings", "metadatas"], limit=PAGE)
            if not page["ids"]:
                break
            self._images.upsert(ids=page["ids"], embeddings=page["embeddings"], metadatas=page["metadatas"])
            self._collection.delete(ids=page["ids"])
            moved += len(page["ids"])
        log.info("moved %d image vectors to their own collection %s", moved, self.image_collection)

    def upsert(self, products: Sequence[Product], image_vectors: np.ndarray, text_vectors: np.ndarray,
               versions: Sequence[ContentVersion]) -> None:  # fmt: skip
        """Write both records of each product: the image record first, so an interruption leaves at most a
        product whose records disagree (re-embedded by the next run), never a text record without its image."""
        for vectors in (image_vectors, text_vectors):
            if vectors.shape != (len(products), self.space.dim):
                raise IndexMismatchError(
                    f"Refusing vectors of shape {vectors.shape}; this index takes dim {self.space.dim}."
                )
        if not products:
            return
        with self.writing():
            self._changing()
            for kind, vectors in (("image", image_vectors), ("text", text_vectors)):
                self._collection_of(kind).upsert(
                    ids=[record_id(p.id, kind) for p in products], embeddings=np.asarray(vectors, np.float32),
                    metadatas=[record_metadata(p, kind, v) | self._written_at() for p, v in zip(products, versions)],
                    documents=[p.model_dump_json() for p in products] if kind == "text" else None,
                )  # fmt: skip

    def restamp(self, stamps: dict[str, ImageStamp]) -> None:
        """Record new image stamps (same digest, new size or mtime) without touching vectors or documents."""
        if not stamps:
            return
        with self.writing():
            self._changing()
            for kind in KINDS:
                ids = [record_id(pid, kind) for pid in stamps]
                metadatas = [image_metadata(stamp) | self._written_at() for stamp in stamps.values()]
                for start in range(0, len(ids), PAGE):
                    self._collection_of(kind).update(ids=ids[start : start + PAGE], metadatas=metadatas[start : start + PAGE])

    def delete(self, product_ids: Iterable[str]) -> None:
        product_ids = list(product_ids)
        if not product_ids:
            return
        with self.writing():
            self._changing()
            for kind in KINDS:
                ids = [record_id(pid, kind) for pid in product_ids]
                for start in range(0, len(ids), PAGE):
                    self._collection_of(kind).delete(ids=ids[start : start + PAGE])

    def reset(self) -> None:
        """Delete both collections and start empty ones in the current space (a rebuild)."""
        existing = {c.name for c in self._client.list_collections()}
        for name in (self.settings.collection, self.image_collection):
            if name in existing:
                self._client.delete_collection(name)
                log.info("dropped collection %s at %s", name, self.where)
        self._collection, self._images = self._open_collections()

    # --- reading --------------------------------------------------------------------------------
    def count(self) -> int:
        """Products fully indexed (both vectors present)."""
        return len(self.versions())

    def catalogue_size(self) -> int | None:
        """How many products :meth:`catalogue` would read (one text record each), counted by Chroma without
        reading them; None in layout 1, where the count mixes both kinds of record."""
        if self._collection is None:
            return 0
        return self._collection.count() if self._images is not None else None

    def inventory(self) -> Inventory:
        """Every product's indexed version and every stored product id, from one pass per collection."""
        seen: dict[str, dict[str, dict[str, Any]]] = {}
        for collection in self._collections():
            for record, metadata in self._records(collection, include=["metadatas"]):
                seen.setdefault(product_of_record(record), {})[metadata.get("kind") or record.rsplit("#", 1)[1]] = metadata
        versions = {
            pid: content_version(kinds["text"])
            for pid, kinds in seen.items()
            if "text" in kinds and "image" in kinds and kinds["image"]["hash"] == kinds["text"]["hash"]
        }
        return Inventory(versions, set(seen))

    def versions(self) -> dict[str, ContentVersion]:
        """The indexed version of every product whose image and text records agree."""
        return self.inventory().versions

    def stored_product_ids(self) -> set[str]:
        """Every product with at least one record (complete or not)."""
        return {product_of_record(record) for collection in self._collections() for record, _ in self._records(collection, [])}

    def categories(self) -> list[str]:
        """Distinct categories in the index, sorted."""
        return sorted({metadata["category"] for record, metadata in self._records(self._collection, ["metadatas"])
                       if record.endswith("#text")})  # fmt: skip

    def catalogue(self) -> list[Product]:
        """Every indexed product, sorted by id: one pass over the text records and their documents."""
        if self._collection is None:
            return []
        products = [Product.model_validate_json(document)
                    for record, document in self._records(self._collection, ["documents"], field="documents")
                    if record.endswith("#text")]  # fmt: skip
        return sorted(products, key=lambda p: p.id)

    def product_ids(self) -> set[str]:
        """Every product with a text record (those :meth:`catalogue` reads), from one call that reads ids only."""
        if self._collection is None:
            return set()
        return {product_of_record(record) for record in self._collection.get(include=[])["ids"] if record.endswith("#text")}

    def changes_since(self, version: CatalogueVersion) -> Changes | None:
        """Which products had a record written since ``version`` (a settled version of this same index), and
        how many records each collection holds now: a reader holding ``version`` reads only those products.

        None when the records cannot tell: the layout of one collection, or what
        :func:`engine.catalogue.versions.numbered_since` rules out (another index, a writer at work, a
        writer that did not number its records, sessions that overlapped, an older copy restored). Deleted
        records leave no trace, so a reader checks the counts against what it expects.
        """
        if self._images is None or not version.settled:
            return None
        try:
            fresh = self._client.get_collection(self.settings.collection, embedding_function=None)
        except Exception:  # noqa: BLE001 - gone: nothing to compare with
            return None
        now = versions.version_of(str(fresh.id), fresh.metadata)
        if not versions.numbered_since(version, now, fresh.metadata or {}):
            return None
        since = versions.written_since(version)
        written = {product_of_record(record) for collection in self._collections()
                   for record in collection.get(where=since, include=[])["ids"]}  # fmt: skip
        return Changes(now, frozenset(written), self._collection.count(), self._images.count())

    def _collections(self) -> list:
        return [c for c in (self._collection, self._images) if c is not None]

    def _records(self, collection, include: list[str], field: str = "metadatas") -> Iterator[tuple[str, Any]]:
        """(record id, metadata or document) of every record in ``collection``.

        The ids come first, in one call (ids alone are cheap), and the rest is fetched by id, page by
        page: Chroma pages by offset by skipping records, which would make one pass over n records
        cost O(n²) as the catalogue grows.
        """
        if collection is None:
            return
        ids = collection.get(include=[])["ids"]
        if not include:
            yield from ((record, None) for record in ids)
            return
        for start in range(0, len(ids), READ_PAGE):
            page = collection.get(ids=ids[start : start + READ_PAGE], include=include)
            yield from zip(page["ids"], page[field])

    def query(self, vector: np.ndarray, kind: Kind, n: int, where: dict[str, Any] | None = None,
              among: Sequence[str] | None = None) -> list[VectorMatch]:  # fmt: skip
        """The ``n`` nearest products by their ``kind`` vector (among the products ``among``, if given), best first.

        Only distances are asked for: the record ids name the products, and turning a hundred
        metadata records into Python dicts would cost ten times the search itself. A ``where``
        filter is applied inside Chroma, at a cost that grows with the records it matches.
        """
        collection = self._collection_of(kind)
        if collection is None or (among is not None and not among):
            return []
        condition = where if self._images is not None else _and([{"kind": kind}, *([where] if where else [])])
        result = collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=max(1, n), where=condition,
            ids=[record_id(pid, kind) for pid in among] if among is not None else None, include=["distances"],
        )  # fmt: skip
        return [VectorMatch(product_of_record(rid), 1.0 - float(distance))
                for rid, distance in zip(result["ids"][0], result["distances"][0])]  # fmt: skip

    def vectors(self, product_ids: Sequence[str], kind: Kind) -> dict[str, np.ndarray]:
        return {pid: vector for (pid, _), vector in self.record_vectors([(pid, kind) for pid in product_ids]).items()}

    def record_vectors(self, records: Sequence[tuple[str, Kind]]) -> dict[tuple[str, Kind], np.ndarray]:
        """Vectors of (product id, kind) pairs, one call per kind."""
        found: dict[tuple[str, Kind], np.ndarray] = {}
        for kind in KINDS:
            ids = [record_id(pid, k) for pid, k in records if k == kind]
            collection = self._collection_of(kind)
            if not ids or collection is None:
                continue
            got = collection.get(ids=ids, include=["embeddings"])
            for rid, vector in zip(got["ids"], got["embeddings"]):
                found[(product_of_record(rid), kind)] = np.asarray(vector, dtype=np.float32)
        return found

    def products(self, product_ids: Sequence[str]) -> dict[str, Product]:
        """The products of these ids that have a text record, read page by page."""
        found: dict[str, Product] = {}
        if self._collection is None:
            return found
        ids = [record_id(pid, "text") for pid in product_ids]
        for start in range(0, len(ids), READ_PAGE):
            got = self._collection.get(ids=ids[start : start + READ_PAGE], include=["documents"])
            found |= {product_of_record(rid): Product.model_validate_json(doc) for rid, doc in zip(got["ids"], got["documents"])}
        return found


def _and(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    """Chroma wants a bare condition for one clause and ``$and`` only for two or more."""
    flat: list[dict[str, Any]] = []
    for condition in conditions:
        flat.extend(condition["$and"] if set(condition) == {"$and"} else [condition])
    return flat[0] if len(flat) == 1 else {"$and": flat}
