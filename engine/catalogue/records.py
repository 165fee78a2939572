"""What the index's records say: their ids, the content version they carry, and the catalogue version.

Each product has two records in Chroma, ``<id>#image`` and ``<id>#text`` (see :mod:`engine.catalogue.store`).
Both carry the product's content hash, its image file's stamp (digest, size and mtime, so an
unchanged image is not read again to hash it) and the fields filters use. These types and helpers
import no Chroma, so the search and the indexer can name what the store returns without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.catalogue.products import ImageStamp, Product
from engine.types import Kind


def record_id(product_id: str, kind: Kind) -> str:
    return f"{product_id}#{kind}"


def product_of_record(record: str) -> str:
    return record.rsplit("#", 1)[0]


@dataclass(frozen=True)
class ContentVersion:
    """What the index holds of a product's content: the hash that decides re-embedding, and the image's stamp."""

    content_hash: str
    image: ImageStamp | None = None  # None for records written before image stamps were kept


@dataclass(frozen=True)
class VectorMatch:
    product_id: str
    similarity: float  # cosine similarity, 1 - Chroma's cosine distance


@dataclass(frozen=True)
class CatalogueVersion:
    """Which catalogue the index holds: its collection and a number every write session moves on.

    The number works as a sequence lock: a writer makes it odd before its first change and even
    again when it is done, so a reader that saw the same even number before and after reading knows
    it read one whole catalogue. A rebuilt index is a new collection, so its numbers never collide
    with the old one's.
    """

    collection: str  # the text collection's id
    number: int

    @property
    def settled(self) -> bool:
        """No writer was at work when this was read."""
        return self.number % 2 == 0

    def __str__(self) -> str:
        return f"{self.collection[:8]}/{self.number}"


@dataclass
class Inventory:
    """What the index holds, read in one pass over each collection's metadata."""

    versions: dict[str, ContentVersion]  # products whose image and text records agree
    stored: set[str]  # every product with at least one record


def record_metadata(product: Product, kind: Kind, version: ContentVersion) -> dict[str, Any]:
    return {
        "product_id": product.id, "kind": kind, "hash": version.content_hash, "category": product.category,
        "price": float(product.price), "rating": float(product.rating if product.rating is not None else -1),
        "colour": product.colour, "brand": product.brand, **image_metadata(version.image),
    }  # fmt: skip


def image_metadata(stamp: ImageStamp | None) -> dict[str, Any]:
    if stamp is None:
        return {}
    return {"image_digest": stamp.digest, "image_size": stamp.size, "image_mtime_ns": stamp.mtime_ns}


def content_version(metadata: dict[str, Any]) -> ContentVersion:
    if "image_digest" not in metadata:
        return ContentVersion(metadata["hash"])
    stamp = ImageStamp(metadata["image_digest"], metadata["image_size"], metadata["image_mtime_ns"])
    return ContentVersion(metadata["hash"], stamp)
