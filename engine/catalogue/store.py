"""Product vectors in Chroma: embedded by default, a Chroma server when ``SHOPLENS_CHROMA_URL`` is set.

One collection, cosine space, two records per product with deterministic ids: ``<id>#image`` (the
CLIP image vector) and ``<id>#text`` (the CLIP text vector, whose document is the product as JSON).
Both carry the product's content hash, its image file's digest, size and mtime (so an unchanged image
is not read again to hash it), and the fields filters use. The collection's metadata records the
vector space (model and dimension); opening it with another space is refused, never mixed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import numpy as np

from engine.catalogue.products import ImageStamp, Product
from engine.errors import IndexMismatchError, StoreUnavailableError
from engine.models.clip import VectorSpace
from engine.settings import Settings
from engine.types import KINDS, Kind

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
PAGE = 2000


def record_id(product_id: str, kind: Kind) -> str:
    return f"{product_id}#{kind}"


@dataclass(frozen=True)
class ContentVersion:
    """What the index holds of a product's content: the hash that decides re-embedding, and the image's stamp."""

    content_hash: str
    image: ImageStamp | None = None  # None for records written before image stamps were kept


@dataclass(frozen=True)
class VectorMatch:
    product_id: str
    similarity: float  # cosine similarity, 1 - Chroma's cosine distance


def _client(settings: Settings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if not settings.chroma_url:
        settings.chroma_path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)
    url = urlparse(settings.chroma_url if "://" in settings.chroma_url else f"http://{settings.chroma_url}")
    try:
        client = chromadb.HttpClient(
            host=url.hostname or "localhost", port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https", settings=chroma_settings,
        )  # fmt: skip
        client.heartbeat()
        return client
    except Exception as error:
        raise StoreUnavailableError(
            f"Cannot reach the Chroma server at {settings.chroma_url} ({type(error).__name__}). "
            "Start it with `chroma run --path data/chroma` or unset SHOPLENS_CHROMA_URL to use the embedded store."
        ) from error


class ProductStore:
    """The vector index of one catalogue, in one vector space."""

    def __init__(self, settings: Settings, space: VectorSpace | None, *, rebuild: bool = False) -> None:
        """``space`` None opens the store read-only, for a server without its CLIP model: an existing
        index is read as it is (products, their stored vectors), and nothing can be written."""
        self.settings = settings
        self.space = space
        self._client = _client(settings)
        if rebuild:
            self.reset()
        else:
            self._collection = self._open_collection()

    @property
    def where(self) -> str:
        return self.settings.chroma_url or str(self.settings.chroma_path)

    def _open_collection(self):
        name = self.settings.collection
        existing = {collection.name for collection in self._client.list_collections()}
        if self.space is None:
            return self._client.get_collection(name, embedding_function=None) if name in existing else None
        if name not in existing:
            log.info("creating collection %s for %s (dim %d) at %s", name, self.space.model_id, self.space.dim, self.where)
            return self._client.create_collection(
                name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}},
                metadata={"shoplens_model": self.space.model_id, "shoplens_dim": self.space.dim,
                          "shoplens_schema": SCHEMA_VERSION},
            )  # fmt: skip
        collection = self._client.get_collection(name, embedding_function=None)
        self._check_space(collection.metadata or {})
        return collection

    def _check_space(self, metadata: dict[str, Any]) -> None:
        model, dim = metadata.get("shoplens_model"), metadata.get("shoplens_dim")
        if model == self.space.model_id and dim == self.space.dim:
            return
        raise IndexMismatchError(
            f"The index '{self.settings.collection}' at {self.where} holds vectors from {model or 'an unknown model'} "
            f"(dim {dim}), but the current model is {self.space.model_id} (dim {self.space.dim}). "
            "Re-index with `python -m engine.index --catalog PATH --rebuild`, or choose another SHOPLENS_COLLECTION."
        )

    # --- writing --------------------------------------------------------------------------------
    def upsert(self, products: Sequence[Product], image_vectors: np.ndarray, text_vectors: np.ndarray,
               versions: Sequence[ContentVersion]) -> None:  # fmt: skip
        """Write both records of each product in one call, so an interruption never leaves half a product."""
        for vectors in (image_vectors, text_vectors):
            if vectors.shape != (len(products), self.space.dim):
                raise IndexMismatchError(
                    f"Refusing vectors of shape {vectors.shape}; this index takes dim {self.space.dim}."
                )
        ids, embeddings, metadatas, documents = [], [], [], []
        for product, image_vector, text_vector, version in zip(products, image_vectors, text_vectors, versions):
            for kind, vector in (("image", image_vector), ("text", text_vector)):
                ids.append(record_id(product.id, kind))
                embeddings.append(vector)
                metadatas.append(_metadata(product, kind, version))
                documents.append(product.model_dump_json())
        if ids:
            self._collection.upsert(ids=ids, embeddings=np.stack(embeddings), metadatas=metadatas, documents=documents)

    def restamp(self, stamps: dict[str, ImageStamp]) -> None:
        """Record new image stamps (same digest, new size or mtime) without touching vectors or documents."""
        ids = [record_id(pid, kind) for pid in stamps for kind in KINDS]
        metadatas = [_image_metadata(stamp) for stamp in stamps.values() for _ in KINDS]
        for start in range(0, len(ids), PAGE):
            self._collection.update(ids=ids[start : start + PAGE], metadatas=metadatas[start : start + PAGE])

    def delete(self, product_ids: Iterable[str]) -> None:
        ids = [record_id(pid, kind) for pid in product_ids for kind in KINDS]
        for start in range(0, len(ids), PAGE):
            self._collection.delete(ids=ids[start : start + PAGE])

    def reset(self) -> None:
        """Delete the whole collection and start an empty one in the current space (a rebuild)."""
        if self.settings.collection in {c.name for c in self._client.list_collections()}:
            self._client.delete_collection(self.settings.collection)
            log.info("dropped collection %s at %s", self.settings.collection, self.where)
        self._collection = self._open_collection()

    # --- reading --------------------------------------------------------------------------------
    def count(self) -> int:
        """Products fully indexed (both vectors present)."""
        return len(self.versions())

    def versions(self) -> dict[str, ContentVersion]:
        """The indexed version of every product whose image and text records agree."""
        seen: dict[str, dict[str, dict[str, Any]]] = {}
        for _, metadata in self._records(include=["metadatas"]):
            seen.setdefault(metadata["product_id"], {})[metadata["kind"]] = metadata
        return {
            pid: _version(kinds["text"])
            for pid, kinds in seen.items()
            if "text" in kinds and "image" in kinds and kinds["image"]["hash"] == kinds["text"]["hash"]
        }

    def stored_product_ids(self) -> set[str]:
        """Every product with at least one record (complete or not)."""
        return {record.rsplit("#", 1)[0] for record, _ in self._records(include=[])}

    def categories(self) -> list[str]:
        """Distinct categories in the index, sorted."""
        return sorted({metadata["category"] for _, metadata in self._records(include=["metadatas"], where={"kind": "text"})})

    def _records(self, include: list[str], where: dict[str, Any] | None = None) -> Iterable[tuple[str, dict]]:
        """(record id, metadata) of every record, read page by page."""
        if self._collection is None:
            return
        offset = 0
        while True:
            page = self._collection.get(where=where, include=include, limit=PAGE, offset=offset)
            metadatas = page.get("metadatas") or [{}] * len(page["ids"])
            yield from zip(page["ids"], metadatas)
            if len(page["ids"]) < PAGE:
                return
            offset += PAGE

    def query(self, vector: np.ndarray, kind: Kind, n: int, where: dict[str, Any] | None = None) -> list[VectorMatch]:
        """The ``n`` nearest products by their ``kind`` vector, best first.

        Only distances are asked for: the record ids name the products, and turning a hundred
        metadata records into Python dicts would cost ten times the search itself.
        """
        if self._collection is None:
            return []
        condition = _and([{"kind": kind}, *([where] if where else [])])
        result = self._collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=max(1, n), where=condition,
            include=["distances"],
        )  # fmt: skip
        return [VectorMatch(rid.rsplit("#", 1)[0], 1.0 - float(distance))
                for rid, distance in zip(result["ids"][0], result["distances"][0])]  # fmt: skip

    def vectors(self, product_ids: Sequence[str], kind: Kind) -> dict[str, np.ndarray]:
        if not product_ids or self._collection is None:
            return {}
        got = self._collection.get(ids=[record_id(pid, kind) for pid in product_ids], include=["embeddings"])
        return {rid.rsplit("#", 1)[0]: np.asarray(vec, dtype=np.float32) for rid, vec in zip(got["ids"], got["embeddings"])}

    def record_vectors(self, records: Sequence[tuple[str, Kind]]) -> dict[tuple[str, Kind], np.ndarray]:
        """Vectors of (product id, kind) pairs, fetched in one call."""
        if not records or self._collection is None:
            return {}
        got = self._collection.get(ids=[record_id(pid, kind) for pid, kind in records], include=["embeddings"])
        found = {}
        for rid, vector in zip(got["ids"], got["embeddings"]):
            pid, kind = rid.rsplit("#", 1)
            found[(pid, kind)] = np.asarray(vector, dtype=np.float32)
        return found

    def products(self, product_ids: Sequence[str]) -> dict[str, Product]:
        if not product_ids or self._collection is None:
            return {}
        got = self._collection.get(ids=[record_id(pid, "text") for pid in product_ids], include=["documents"])
        return {rid.rsplit("#", 1)[0]: Product.model_validate_json(doc) for rid, doc in zip(got["ids"], got["documents"])}


def _metadata(product: Product, kind: Kind, version: ContentVersion) -> dict[str, Any]:
    return {
        "product_id": product.id, "kind": kind, "hash": version.content_hash, "category": product.category,
        "price": float(product.price), "rating": float(product.rating if product.rating is not None else -1),
        "colour": product.colour, "brand": product.brand, **_image_metadata(version.image),
    }  # fmt: skip


def _image_metadata(stamp: ImageStamp | None) -> dict[str, Any]:
    if stamp is None:
        return {}
    return {"image_digest": stamp.digest, "image_size": stamp.size, "image_mtime_ns": stamp.mtime_ns}


def _version(metadata: dict[str, Any]) -> ContentVersion:
    if "image_digest" not in metadata:
        return ContentVersion(metadata["hash"])
    stamp = ImageStamp(metadata["image_digest"], metadata["image_size"], metadata["image_mtime_ns"])
    return ContentVersion(metadata["hash"], stamp)


def _and(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    """Chroma wants a bare condition for one clause and ``$and`` only for two or more."""
    flat: list[dict[str, Any]] = []
    for condition in conditions:
        flat.extend(condition["$and"] if set(condition) == {"$and"} else [condition])
    return flat[0] if len(flat) == 1 else {"$and": flat}
