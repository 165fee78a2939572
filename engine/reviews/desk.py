"""The reviews facade the UI talks to: write (stars, text, photo, voice note), read in order, summarise.

One :class:`ReviewDesk` per app, built from the settings and the models and stores the app already
holds (the CLIP embedder for review photos, the product store for product image vectors, Whisper for
voice notes). Reviews live in the shopper database under ``SHOPLENS_DATA_DIR``, next to the events
they belong with.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path

import numpy as np

from engine.catalogue.images import load_image
from engine.catalogue.store import ProductStore
from engine.errors import InvalidInputError, ShopLensError
from engine.models.clip import ClipEmbedder
from engine.models.speech import SpeechRecognizer
from engine.reviews import summary
from engine.reviews.analysis import Analyser, Analysis, Language, detect_language
from engine.reviews.photos import PhotoCheck, background, check_photos, save_photo, standardise
from engine.reviews.ranking import RankedReview, rank
from engine.reviews.store import BUNDLED_FILE, PHOTO_DIR, Review, ReviewStore
from engine.reviews.summary import ReviewStats
from engine.settings import Settings
from engine.shoppers.events import Database
from engine.shoppers.privacy import Laplace, Releases
from engine.types import Transcript

log = logging.getLogger(__name__)


class ReviewDesk:
    """Reviews of the catalogue's products: writing, ranking, summaries, photo checks, stats for search."""

    def __init__(self, settings: Settings, embedder: ClipEmbedder, store: ProductStore,
                 speech: SpeechRecognizer | None = None, *, database: Database | None = None,
                 analyser: Analyser | None = None, rng: np.random.Generator | None = None,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.settings, self.embedder, self.store, self.speech = settings, embedder, store, speech
        self.database = database or Database.from_settings(settings)
        self.reviews = ReviewStore(self.database, settings.data_dir, settings.catalog.parent)
        self.analyser = analyser or Analyser()
        self.laplace = Laplace(settings.privacy_epsilon, rng)
        self.releases = Releases(settings.privacy_release_hours * 3600, clock)
        self.clock = clock
        self._analyses: dict[tuple[str, str], Analysis] = {}
        self._lock = threading.Lock()
        self._synced = False
        self._stats_drawn = threading.Event()  # set once every review has been analysed (prepare() or stats())
        self._deferring = threading.Event()  # see defer_stats()
        self.photo_checking = True  # off when CLIP could not be loaded: photos are kept but not compared

    # --- start-up ---------------------------------------------------------------------------------
    def sync_bundled(self) -> int:
        """Import the reviews shipped next to the catalogue (``reviews.jsonl``), if any; idempotent."""
        path = self.settings.catalog.parent / BUNDLED_FILE
        added = self.reviews.sync_bundled(path) if path.is_file() else 0
        self._synced = True
        if added:
            log.info("imported %d bundled reviews from %s", added, path)
        return added

    def prepare(self) -> int:
        """Sync the bundled reviews, embed review photos not embedded yet and analyse every review.

        Worth calling at start: SnowNLP takes about 10 ms per Chinese review. Returns the photos ready.
        """
        self.sync_bundled()
        ready = len(self._photo_vectors([r for r in self.reviews.all() if r.photo]))
        self.stats()
        return ready

    def refresh(self) -> None:
        """Forget cached product vectors (after re-indexing)."""
        self.__dict__.pop("_product_images", None)
        self.__dict__.pop("_catalogue_z", None)

    # --- writing ------------------------------------------------------------------------------------
    def transcribe(self, audio: str | Path, language: str | None = None) -> Transcript:
        """A voice note as text, to show the shopper for correction before posting (same path as voice search)."""
        if self.speech is None:
            raise ShopLensError("Voice notes are not available on this server.")
        return self.speech.transcribe(audio, language=language)

    def post(self, shopper: str, product_id: str, stars: int, text: str, *, photo: str | Path | None = None,
             transcript: str | None = None, language: Language | None = None) -> Review:  # fmt: skip
        """Post (or replace) the shopper's review of a product.

        ``text`` is what the shopper wrote or corrected; ``transcript`` what Whisper heard, when the
        review began as a voice note. ``photo`` is an uploaded image file.
        """
        text = self._check(shopper, product_id, stars, text)
        photo_name = save_photo(photo, self.settings, PHOTO_DIR) if photo else None
        review_id, replaced = self.reviews.post(shopper, product_id, int(stars), text, language or detect_language(text),
                                                photo=photo_name, transcript=transcript)  # fmt: skip
        if replaced:
            (self.settings.data_dir / replaced).unlink(missing_ok=True)
        review = self.reviews.get(review_id)
        if review.photo and self.photo_checking:
            self._photo_vectors([review])
            self.__dict__.pop("_catalogue_z", None)
        return review

    def _check(self, shopper: str, product_id: str, stars: int, text: str) -> str:
        if not shopper:
            raise InvalidInputError("This browser has no shopper id yet; reload the page and try again.")
        if product_id not in self.store.products([product_id]):
            raise InvalidInputError("That product is no longer in the catalogue.")
        if isinstance(stars, bool) or not isinstance(stars, int | float) or stars != int(stars) or not 1 <= stars <= 5:
            raise InvalidInputError("Please give the product 1 to 5 stars.")
        text = (text or "").strip()
        if not text:
            raise InvalidInputError("Please write a few words, or record a voice note.")
        if len(text) > self.settings.max_review_chars:
            raise InvalidInputError(
                f"The review is too long ({len(text)} characters; the limit is {self.settings.max_review_chars})."
            )
        return text

    def delete(self, shopper: str, review_id: str) -> bool:
        """Delete one's own review (and its photo)."""
        photo = self.reviews.delete(shopper, review_id)
        if photo:
            (self.settings.data_dir / photo).unlink(missing_ok=True)
        return photo is not None

    def vote(self, shopper: str, review_id: str) -> bool:
        """A "helpful" vote: once per shopper and review, never for one's own."""
        return bool(shopper) and self.reviews.vote(shopper, review_id)

    # --- reading ------------------------------------------------------------------------------------
    def ranked(self, product_id: str, shopper: str = "") -> list[RankedReview]:
        """The product's reviews, most helpful first, each with its reasons (``why()``)."""
        self._ensure_synced()
        reviews = self.reviews.for_product(product_id)
        analyses = {r.id: self.analyse(r.text, r.language) for r in reviews}
        viewer = self.reviews.contributor_of(shopper) if shopper else None
        return rank(reviews, analyses, self.photo_checks(product_id), self.clock(), viewer)

    def analyse(self, text: str, language: str | None = None) -> Analysis:
        key = (text, language or "")
        with self._lock:
            cached = self._analyses.get(key)
        if cached is None:
            cached = self.analyser.analyse(text, language if language in ("en", "zh") else None)  # type: ignore[arg-type]
            with self._lock:
                self._analyses[key] = cached
        return cached

    def stats(self) -> dict[str, ReviewStats]:
        """Shown review statistics of every reviewed product (for "best reviewed" and the 4★ facet).

        The first call analyses every review (SnowNLP alone takes seconds to load): :meth:`prepare`
        makes it at start-up, on the indexing thread.
        """
        stats = self.releases.get("review stats", self._draw_stats)
        self._stats_drawn.set()
        return stats

    def defer_stats(self) -> None:
        """Until :meth:`stop_deferring`, :meth:`stats_if_ready` answers None rather than analyse every
        review itself: the app's start-up analyses them on its own thread (:meth:`prepare`)."""
        self._deferring.set()

    def stop_deferring(self) -> None:
        self._deferring.clear()

    def stats_if_ready(self) -> dict[str, ReviewStats] | None:
        """:meth:`stats`, or None while start-up is still analysing the reviews (:meth:`defer_stats`):
        a search, or a product opened, goes on without review scores rather than wait for it."""
        return None if self._deferring.is_set() and not self._stats_drawn.is_set() else self.stats()

    def summary(self, product_id: str) -> ReviewStats | None:
        return (self.stats_if_ready() or {}).get(product_id)

    def summary_text(self, product_id: str, language: Language = "en") -> str:
        shown = self.summary(product_id)
        return shown.text(self.analyser.lexicon, language) if shown else ""

    def features(self, product_ids: Iterable[str]) -> dict[str, np.ndarray]:
        """The review block of G for each product (:data:`engine.reviews.summary.REVIEW_FEATURES`)."""
        return summary.features(product_ids, self.stats(), self.analyser.lexicon)

    def _draw_stats(self) -> dict[str, ReviewStats]:
        self._ensure_synced()
        pairs = [(review, self.analyse(review.text, review.language)) for review in self.reviews.all()]
        bundled, shoppers = summary.tallies(pairs)
        released = summary.release(shoppers, self.store.stored_product_ids(), self.analyser.lexicon, self.laplace,
                                   self.settings.privacy_min_count)  # fmt: skip
        return summary.stats(bundled, released)

    def _ensure_synced(self) -> None:
        if not self._synced:
            self.sync_bundled()

    # --- photo check ----------------------------------------------------------------------------------
    def photo_checks(self, product_id: str) -> dict[str, PhotoCheck]:
        """Does each review photo of the product show it? (see :mod:`engine.reviews.photos`)."""
        with_photos = [r for r in self.reviews.for_product(product_id) if r.photo]
        if not with_photos or not self.photo_checking:
            return {}
        images = self._product_images
        if not with_photos or product_id not in images[0]:
            return {}
        vectors = self._photo_vectors(with_photos)
        z, similarity = self._standardised(product_id, vectors)
        return check_photos(z, similarity, self._catalogue_z)

    @cached_property
    def _product_images(self) -> tuple[dict[str, int], np.ndarray]:
        """Row of every product in a matrix of product image vectors."""
        ids = sorted(self.store.stored_product_ids())
        vectors = self.store.vectors(ids, "image")
        ids = [pid for pid in ids if pid in vectors]
        matrix = np.stack([vectors[pid] for pid in ids]) if ids else np.zeros((0, 1), np.float32)
        return {pid: i for i, pid in enumerate(ids)}, matrix

    def _standardised(self, product_id: str, vectors: dict[str, np.ndarray]) -> tuple[dict[str, float], dict[str, float]]:
        rows, matrix = self._product_images
        product = matrix[rows[product_id]]
        mean, std = background(product, np.delete(matrix, rows[product_id], axis=0))
        similarity = {rid: float(vector @ product) for rid, vector in vectors.items()}
        return {rid: standardise(s, mean, std) for rid, s in similarity.items()}, similarity

    @cached_property
    def _catalogue_z(self) -> list[float]:
        """z of every review photo in the catalogue against its own product: the fallback siblings."""
        rows = self._product_images[0]
        by_product: dict[str, list[Review]] = {}
        for review in self.reviews.all():
            if review.photo and review.product_id in rows:
                by_product.setdefault(review.product_id, []).append(review)
        vectors = self._photo_vectors([r for reviews in by_product.values() for r in reviews])
        values = []
        for product_id, reviews in by_product.items():
            mine = {r.id: vectors[r.id] for r in reviews if r.id in vectors}
            values += list(self._standardised(product_id, mine)[0].values())
        return values

    def _photo_vectors(self, reviews: list[Review]) -> dict[str, np.ndarray]:
        """CLIP vectors of the reviews' photos: cached in the database, embedded when missing."""
        space = self.embedder.space.model_id
        cached = self.reviews.photo_vectors([r.id for r in reviews], space)
        missing = [r for r in reviews if r.id not in cached and r.photo and r.photo.is_file()]
        if missing:
            images = [load_image(r.photo, max_bytes=self.settings.max_image_bytes, max_pixels=self.settings.max_image_pixels)
                      for r in missing]  # fmt: skip
            fresh = dict(zip([r.id for r in missing], self.embedder.embed_images(images)))
            self.reviews.save_photo_vectors(fresh, space)
            cached.update(fresh)
        return cached
