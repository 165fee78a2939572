"""Bring the vector index in line with a catalogue: embed what is new or changed, drop what left.

The command line is ``python -m engine.index`` (:mod:`engine.index`).
Each product's content hash (row + image bytes) is stored with its vectors, so a second run over an
unchanged catalogue embeds nothing. The image file's size and mtime are stored too, so that run does
not even read the images: only a file whose size or mtime changed is hashed again, and re-embedded
only if its bytes changed. Work is written batch by batch, both vectors of a product in one upsert:
an interrupted run loses at most the batch in flight, and the next run carries on from there. While
the model embeds one batch, worker threads decode and preprocess the images of the next.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from engine.catalogue.images import load_image
from engine.catalogue.products import Catalogue, ImageStamp, Product, RowProblem
from engine.catalogue.records import ContentVersion
from engine.catalogue.store import ProductStore
from engine.errors import InvalidInputError
from engine.models.clip import ClipEmbedder
from engine.settings import Settings

log = logging.getLogger(__name__)

IMAGE_THREADS = min(4, os.cpu_count() or 1)  # decoding and resizing release the GIL


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


@dataclass(frozen=True)
class _Prepared:
    """A product ready for the model: its image decoded and preprocessed."""

    product: Product
    version: ContentVersion
    pixels: torch.Tensor


class Indexer:
    """Synchronises a :class:`ProductStore` with a :class:`Catalogue` using one shared embedder."""

    def __init__(self, settings: Settings, embedder: ClipEmbedder, store: ProductStore) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store

    def sync(self, catalogue: Catalogue, *, progress: bool = True,
             on_progress: Callable[[int, int], None] | None = None) -> IndexReport:  # fmt: skip
        """Embed what is new or changed, drop what left. ``on_progress(done, total)`` follows each batch.

        The whole run is one write session of the store: readers (a serving app, other replicas) see
        the catalogue version move on once, when the run ends, and only if something changed.
        """
        started = time.perf_counter()
        report = IndexReport(skipped=list(catalogue.problems))
        with self.store.writing():
            self._sync(catalogue, report, progress, on_progress)
        report.seconds = time.perf_counter() - started
        log.info("index %s: %s", catalogue.path.name, report.summary())
        return report

    def _sync(self, catalogue: Catalogue, report: IndexReport, progress: bool,
              on_progress: Callable[[int, int], None] | None) -> None:  # fmt: skip
        inventory = self.store.inventory()  # one pass over the index's metadata
        gone = inventory.stored - catalogue.by_id().keys()
        if gone:
            self.store.delete(sorted(gone))
            report.removed = len(gone)
        todo = self._plan(catalogue, report, inventory.versions)
        bar = tqdm(total=len(todo), desc="Indexing products", unit="product", disable=not progress or not todo)
        done = 0
        if on_progress is not None and todo:
            on_progress(0, len(todo))
        with bar:
            for batch in self._prepared_batches(todo):
                self._index_batch(batch, inventory.stored, report)
                bar.update(len(batch))
                done += len(batch)
                if on_progress is not None:
                    on_progress(done, len(todo))

    def _plan(self, catalogue: Catalogue, report: IndexReport,
              indexed: dict[str, ContentVersion]) -> list[tuple[Product, ContentVersion]]:  # fmt: skip
        """The products to embed. Unchanged ones are counted; an image whose stamp alone changed is restamped."""
        todo, restamped = [], {}
        for product in catalogue.products:
            known = indexed.get(product.id)
            try:
                stamp = ImageStamp.of(product.image, known.image if known else None)
            except OSError as error:
                report.skipped.append(RowProblem(0, product.id, f"image unreadable: {error.strerror or error}"))
                continue
            version = ContentVersion(product.content_hash(stamp.digest), stamp)
            if known is None or known.content_hash != version.content_hash:
                todo.append((product, version))
                continue
            report.unchanged += 1
            if known.image != stamp:
                restamped[product.id] = stamp
        if restamped:
            self.store.restamp(restamped)
        return todo

    def _prepared_batches(self, todo: list[tuple[Product, ContentVersion]]) -> Iterator[list[_Prepared | RowProblem]]:
        """``todo`` in batches, each prepared by worker threads while the model embeds the batch before it."""
        size = self.settings.batch_size
        with ThreadPoolExecutor(IMAGE_THREADS, thread_name_prefix="shoplens-images") as pool:
            queued: deque[list[Future]] = deque()
            try:
                for start in range(0, len(todo), size):
                    queued.append([pool.submit(self._prepare, *item) for item in todo[start : start + size]])
                    if len(queued) > 1:
                        yield [future.result() for future in queued.popleft()]
                while queued:
                    yield [future.result() for future in queued.popleft()]
            finally:  # an interrupted run does not wait for images it will never embed
                pool.shutdown(cancel_futures=True)

    def _prepare(self, product: Product, version: ContentVersion) -> _Prepared | RowProblem:
        try:
            image = load_image(product.image, max_bytes=self.settings.max_image_bytes,
                               max_pixels=self.settings.max_image_pixels)  # fmt: skip
        except InvalidInputError as error:
            return RowProblem(0, product.id, f"image {product.image.name}: {error}")
        return _Prepared(product, version, self.embedder.preprocess(image))

    def _index_batch(self, batch: list[_Prepared | RowProblem], stored: set[str], report: IndexReport) -> None:
        report.skipped.extend(item for item in batch if isinstance(item, RowProblem))
        ready = [item for item in batch if isinstance(item, _Prepared)]
        if not ready:
            return
        products = [item.product for item in ready]
        image_vectors = self.embedder.embed_pixels(torch.stack([item.pixels for item in ready]))
        text_vectors = self.embedder.embed_texts([product.embedding_text() for product in products])
        self.store.upsert(products, image_vectors, text_vectors, [item.version for item in ready])
        for product in products:
            if product.id in stored:
                report.updated += 1
            else:
                report.added += 1
