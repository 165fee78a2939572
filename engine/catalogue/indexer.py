"""Bring the vector index in line with a catalogue: embed what is new or changed, drop what left.

The command line is ``python -m engine.index`` (:mod:`engine.index`).
Each product's content hash (row + image bytes) is stored with its vectors, so a second run over an
unchanged catalogue embeds nothing. Work is written batch by batch, both vectors of a product in one
upsert: an interrupted run loses at most the batch in flight, and the next run carries on from there.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from tqdm import tqdm

from engine.catalogue.images import load_image
from engine.catalogue.products import Catalogue, Product, RowProblem
from engine.catalogue.store import ProductStore
from engine.errors import InvalidInputError
from engine.models.clip import ClipEmbedder
from engine.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[RowProblem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def embedded(self) -> int:
        return self.added + self.updated

    def summary(self) -> str:
        rate = f", {self.embedded / self.seconds:.1f} products/s" if self.embedded and self.seconds else ""
        return (
            f"{self.added} added, {self.updated} updated, {self.removed} removed, {self.unchanged} unchanged, "
            f"{len(self.skipped)} skipped in {self.seconds:.1f} s{rate}"
        )


class Indexer:
    """Synchronises a :class:`ProductStore` with a :class:`Catalogue` using one shared embedder."""

    def __init__(self, settings: Settings, embedder: ClipEmbedder, store: ProductStore) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store

    def sync(self, catalogue: Catalogue, *, progress: bool = True) -> IndexReport:
        started = time.perf_counter()
        report = IndexReport(skipped=list(catalogue.problems))
        indexed = self.store.indexed_hashes()
        current = catalogue.by_id()
        stored = self.store.stored_product_ids()
        gone = stored - current.keys()
        if gone:
            self.store.delete(sorted(gone))
            report.removed = len(gone)
        todo: list[tuple[Product, str]] = []
        for product in catalogue.products:
            try:
                content_hash = product.content_hash()
            except OSError as error:
                report.skipped.append(RowProblem(0, product.id, f"image unreadable: {error.strerror or error}"))
                continue
            if indexed.get(product.id) == content_hash:
                report.unchanged += 1
            else:
                todo.append((product, content_hash))
        bar = tqdm(total=len(todo), desc="Indexing products", unit="product", disable=not progress or not todo)
        with bar:
            for start in range(0, len(todo), self.settings.batch_size):
                batch = todo[start : start + self.settings.batch_size]
                self._index_batch(batch, stored, report)
                bar.update(len(batch))
        report.seconds = time.perf_counter() - started
        log.info("index %s: %s", catalogue.path.name, report.summary())
        return report

    def _index_batch(self, batch: list[tuple[Product, str]], stored: set[str], report: IndexReport) -> None:
        products, hashes, images = [], [], []
        for product, content_hash in batch:
            try:
                image = load_image(product.image, max_bytes=self.settings.max_image_bytes,
                                   max_pixels=self.settings.max_image_pixels)  # fmt: skip
            except InvalidInputError as error:
                report.skipped.append(RowProblem(0, product.id, f"image {product.image.name}: {error}"))
                continue
            products.append(product)
            hashes.append(content_hash)
            images.append(image)
        if not products:
            return
        image_vectors = self.embedder.embed_images(images)
        text_vectors = self.embedder.embed_texts([product.embedding_text() for product in products])
        self.store.upsert(products, image_vectors, text_vectors, hashes)
        for product in products:
            if product.id in stored:
                report.updated += 1
            else:
                report.added += 1
