"""The assembled engine: one object holding every stage, each model loaded once and shared."""

from __future__ import annotations

import logging
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import Literal

from engine.catalogue.indexer import Indexer, IndexReport
from engine.catalogue.lock import WriterBusyError, WriterLock
from engine.catalogue.products import Product, load_catalogue
from engine.catalogue.store import ProductStore
from engine.catalogue.uploads import Upload, receive
from engine.errors import InvalidInputError, ModelUnavailableError, ShopLensError
from engine.i18n import Lang, age_text, error_text, text
from engine.models.clip import ClipEmbedder
from engine.models.devices import one_blas_thread
from engine.models.hub import Reachability, prepare_downloads, whisper_cached
from engine.models.speech import SpeechRecognizer
from engine.pages import PageMaker
from engine.reviews.desk import ReviewDesk
from engine.search.engine import SearchEngine
from engine.search.suggest import Suggester
from engine.settings import Settings
from engine.shoppers.events import Database, EventStore
from engine.shoppers.pairing import Pairing
from engine.shoppers.personal import Personaliser
from engine.shoppers.privacy import PrivateStats, ShopperData
from engine.types import (
    ForYou,
    Hit,
    Page,
    ProductView,
    Query,
    Recommendation,
    ReviewItem,
    ReviewsView,
    SearchResult,
    Status,
)

log = logging.getLogger(__name__)
ACTIVE_CATALOGUE = "active-catalogue.txt"  # in the data directory: the uploaded catalogue being served
UPLOADS = "uploads"  # in the data directory: uploaded catalogues, one folder each
SNAPSHOT_EVERY_S = 5.0  # while indexing, search catches up with what is indexed this often
MAX_PREFIX = 100  # characters of a half-typed query worth completing


class ShopLens:
    """Search, similar items and indexing over one catalogue. Nothing heavy happens in ``__init__``."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        one_blas_thread()  # before any worker thread computes: see there
        self.embedder = ClipEmbedder(self.settings)
        self.speech = SpeechRecognizer(self.settings)
        self._suggester: tuple[tuple[int, int], Suggester] | None = None  # per catalogue version and privacy release
        self._suggester_lock = threading.Lock()
        self._upload_roots: tuple[Path, ...] = ()  # where uploads may be read from; see allow_uploads_from
        self._photo_reason: str | None = None  # why photo search is off (CLIP could not be loaded)
        self._voice_reason: str | None = None  # why voice search is off (Whisper could not be loaded)
        self._indexing: tuple[int, int] | None = None  # (done, total) while the catalogue is being indexed
        self._ready = threading.Event()
        self._retention: threading.Event | None = None
        self._reach = Reachability(hub=True, whisper=True)
        self._refreshed_at = 0.0
        self._catalogue_change = threading.Lock()  # held while a catalogue is indexed (start-up or a change): one at a time
        self._changes = threading.Lock()  # guards the three fields below
        self._changes_waiting = 0  # catalogue preparations asked for and not yet done; ready when none is left
        self._generation = 0  # numbers the catalogue changes asked for: only the latest is served
        self._catalogue_problem: str | None = None  # why the last catalogue chosen could not be served

    @cached_property
    def store(self) -> ProductStore:
        # Without CLIP (words-only mode) the index is opened read-only: its products stay searchable by words.
        return ProductStore(self.settings, self.embedder.space if self._photo_reason is None else None)

    @cached_property
    def engine(self) -> SearchEngine:
        engine = SearchEngine(self.settings, self.embedder, self.store, self.speech)
        # "best reviewed" and the 4★-by-reviews facet; a search never waits for the reviews to be analysed
        engine.review_stats = lambda: self.reviews.stats_if_ready()
        return engine

    @cached_property
    def database(self) -> Database:
        """The shoppers' SQLite file: events, reviews, votes, paired devices (encrypted fields if a key is set)."""
        return Database.from_settings(self.settings)

    @cached_property
    def events(self) -> EventStore:
        return EventStore(self.database)

    @cached_property
    def reviews(self) -> ReviewDesk:
        return ReviewDesk(self.settings, self.embedder, self.store, self.speech, database=self.database)

    @cached_property
    def pairing(self) -> Pairing:
        return Pairing(self.database)

    @cached_property
    def shopper_data(self) -> ShopperData:
        """Export, forget and retention: what the shopper may ask of their own data."""
        return ShopperData(self.database, self.settings)

    @cached_property
    def private_stats(self) -> PrivateStats:
        """Cross-shopper lists ("popular", "bought together") with differential privacy."""
        return PrivateStats(self.settings, self.events, lambda: self.engine.snapshot.by_id.keys())

    @cached_property
    def personal(self) -> Personaliser:
        return Personaliser(self.store, self.embedder, self.events, self.categories(), self.colours(),
                            private=self.private_stats, reviews=self.reviews if self.settings.reviews_in_product_model
                            else None, catalogue=lambda: self.engine.snapshot.products)  # fmt: skip

    @cached_property
    def indexer(self) -> Indexer:
        return Indexer(self.settings, self.embedder, self.store)

    def start(self, *, speech: bool = True, background: bool = False) -> IndexReport | None:
        """Load and warm the models, then bring the index up to date and prepare the reviews.

        With ``background`` (the web app) this returns once the models are warm, and the catalogue
        is indexed on a background thread: the page is served at once, search covers what is
        indexed so far, and :meth:`status` says how far indexing has got. A model that cannot be
        had switches its feature off (``SHOPLENS_OFFLINE=auto``) or stops the start (``never``).
        """
        self._prepare_downloads(speech)
        self._load_clip()
        if speech:
            self._load_whisper()
        self.reviews.defer_stats()  # search goes on without review scores until they are ready
        if self._retention is None:  # old events go now, whatever happens to the catalogue, then daily
            self._retention = self.shopper_data.start_retention()
        self._begin_change()
        if background:
            threading.Thread(target=self._prepare_catalogue, name="shoplens-indexing", daemon=True).start()
            return None
        return self._prepare_catalogue()

    def status(self) -> Status:
        """What works right now: photo and voice search, and how far indexing has got."""
        return Status(photo=self._photo_reason is None, voice=self._voice_reason is None, photo_reason=self._photo_reason,
                      voice_reason=self._voice_reason, indexing=self._indexing, ready=self._ready.is_set(),
                      catalogue_problem=self._catalogue_problem)  # fmt: skip

    def notices(self, lang: Lang = "en") -> list[str]:
        """The page's standing notices: features that are off, and indexing under way."""
        status, shown = self.status(), []
        if status.photo_reason:
            shown.append(text("status.photo_off", lang, reason=error_text(status.photo_reason, lang)))
        if status.voice_reason:
            shown.append(text("status.voice_off", lang, reason=error_text(status.voice_reason, lang)))
        if status.indexing:
            shown.append(text("status.indexing", lang, done=status.indexing[0], total=status.indexing[1]))
        return shown

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Block until background indexing and review preparation are done."""
        return self._ready.wait(timeout)

    def _prepare_downloads(self, speech: bool) -> None:
        needs_hub = not self.settings.clip_random_weights and not Path(self.settings.clip_pretrained).expanduser().is_file()
        needs_whisper = speech and not whisper_cached(self.settings.whisper_model, self.settings.model_cache_dir)
        self._reach = prepare_downloads(needs_hub=needs_hub, needs_whisper=needs_whisper)

    def _load_clip(self) -> None:
        try:
            self.embedder.warm_up()
        except ModelUnavailableError as error:
            if self.settings.offline == "never":
                raise
            self._photo_reason = str(error)
            self.engine.vectors = False
            self.reviews.photo_checking = False
            log.warning("starting in words-only mode: %s", error)

    def _load_whisper(self) -> None:
        try:
            if not self._reach.whisper:
                raise ModelUnavailableError(
                    f"Could not load Whisper model '{self.settings.whisper_model}' (its download host cannot be "
                    "reached). Set SHOPLENS_WHISPER_MODEL to a local checkpoint (.pt)."
                )
            self.speech.warm_up()
        except ModelUnavailableError as error:
            if self.settings.offline == "never":
                raise
            self._voice_reason = str(error)
            log.warning("voice search is off: %s", error)

    def _prepare_catalogue(self) -> IndexReport | None:
        """Index (or, without CLIP, read) the catalogue and prepare the reviews."""
        report = None
        with self._catalogue_change:
            try:
                if self._photo_reason is not None:
                    self._read_words_only(self.catalogue_path)
                elif self.settings.index_on_start:
                    report = self.index_catalogue()
                else:
                    log.info("index at %s holds %d products", self.store.where, self.store.count())
                if self._photo_reason is None:
                    self.reviews.prepare()  # bundled reviews imported, photos embedded, every review analysed
                else:
                    self.reviews.sync_bundled()
                    self.reviews.stats()  # every review analysed now, as prepare() does
            finally:
                self.reviews.stop_deferring()
                self._end_change()
        return report

    def _begin_change(self) -> int:
        """A catalogue preparation is asked for: the shop is not ready until every one asked for is done."""
        with self._changes:
            self._generation += 1
            self._changes_waiting += 1
            self._ready.clear()
            return self._generation

    def _end_change(self) -> None:
        with self._changes:
            self._changes_waiting -= 1
            if not self._changes_waiting:
                self._indexing = None
                self._ready.set()

    @property
    def catalogue_path(self) -> Path:
        """The catalogue being served: SHOPLENS_CATALOG, unless a shop owner uploaded one (see :meth:`serve_catalogue`)."""
        chosen = self.settings.data_dir / ACTIVE_CATALOGUE
        if chosen.is_file():
            path = Path(chosen.read_text(encoding="utf-8").strip())
            if path.is_file():
                return path
        return Path(self.settings.catalog)

    def index_catalogue(self, path: Path | None = None, *, progress: bool = True, busy_ok: bool = True) -> IndexReport | None:
        """Bring the index in line with a catalogue file (default: :attr:`catalogue_path`), holding the
        data directory's writer lock.

        When another process (``python -m engine.index``) is writing, this does not wait: with
        ``busy_ok`` the app serves what is indexed and picks up that process's work when it finishes;
        without it, :class:`WriterBusyError` says who holds the lock.
        """
        path = path or self.catalogue_path
        try:
            with WriterLock(self.settings.data_dir, "ShopLens app, indexing its catalogue").acquire():
                report = self.indexer.sync(load_catalogue(path), progress=progress, on_progress=self._progress)
        except WriterBusyError as busy:
            if not busy_ok:
                raise
            log.warning("not indexing now: %s", busy)
            report = None
        finally:
            self._indexing = None
        self.engine.catalogue_path = path
        self.engine.refresh()
        if "personal" in self.__dict__:
            self.personal.refresh()
        if "reviews" in self.__dict__:
            self.reviews.refresh()
        return report

    def _progress(self, done: int, total: int) -> None:
        """Called by the indexer after each batch: the page shows it, and search covers what is done
        (the first batch at once, then at most every SNAPSHOT_EVERY_S)."""
        self._indexing = (done, total)
        if done and (self._ready.is_set() or self._refreshed_at + SNAPSHOT_EVERY_S < time.monotonic()):
            self._refreshed_at = time.monotonic()
            self.engine.refresh()

    # --- a shop owner's own catalogue -----------------------------------------------------------
    def receive_catalogue(self, catalogue_file: str | Path, images_zip: str | Path | None) -> Upload:
        """Unpack and check an uploaded catalogue (nothing is indexed yet); the report lists refused rows."""
        files = [self.check_upload(catalogue_file), self.check_upload(images_zip) if images_zip else None]
        return receive(files[0], files[1], self.settings.data_dir / UPLOADS)

    def serve_catalogue(self, path: str | Path | None) -> None:
        """Index ``path`` (None: the bundled demo catalogue) in the background and serve it when ready.

        The choice is remembered in the data directory, so a restart serves the same catalogue. Changes
        are indexed one at a time, after any start-up indexing; when several wait, only the latest is
        served, and the shop is ready again when none is left. If the chosen catalogue cannot be served
        (its file spoilt, another process indexing), the shop keeps the one it has, remembers that one
        again, and :meth:`status` says why (``catalogue_problem``, for the shop owner's page).
        """
        target = Path(path).resolve() if path is not None else Path(self.settings.catalog)
        self._remember(target)
        generation = self._begin_change()
        self._catalogue_problem = None
        self._indexing = self._indexing or (0, 0)
        threading.Thread(target=self._serve_new_catalogue, args=(generation, target), name="shoplens-catalogue",
                         daemon=True).start()  # fmt: skip

    def _serve_new_catalogue(self, generation: int, path: Path) -> None:
        with self._catalogue_change:
            try:
                if generation != self._generation:
                    return  # a later choice waits behind this one and is served instead
                serving = self.engine.catalogue_path
                try:
                    if self._photo_reason is not None:
                        self._read_words_only(path)
                        if "personal" in self.__dict__:
                            self.personal.refresh()
                    else:
                        self.index_catalogue(path, progress=False, busy_ok=False)  # refreshes "For you" itself
                except Exception as error:  # the shop keeps serving the catalogue it has
                    log.exception("serving the catalogue %s failed", path)
                    with self._changes:
                        if generation == self._generation:
                            self._catalogue_problem = (str(error) if isinstance(error, ShopLensError) else
                                                       "An unexpected error stopped it; the server's log has the details.")  # fmt: skip
                            self._remember(serving)
            finally:
                self._end_change()

    def _read_words_only(self, path: Path) -> None:
        """Without CLIP, the catalogue file itself is searched by words (nothing is indexed)."""
        products = load_catalogue(path).products
        self.engine.catalogue_path = path
        self.engine.use_products(products)

    def _remember(self, path: Path) -> None:
        """Make ``path`` the catalogue a restart serves."""
        chosen = self.settings.data_dir / ACTIVE_CATALOGUE
        if Path(path).resolve() == Path(self.settings.catalog).resolve():
            chosen.unlink(missing_ok=True)
        else:
            chosen.write_text(str(Path(path).resolve()), encoding="utf-8")

    def stop(self) -> None:
        """Stop background work (the daily retention sweep)."""
        if self._retention is not None:
            self._retention.set()
            self._retention = None

    @cached_property
    def pages(self) -> PageMaker:
        return PageMaker(self.settings, self.engine, self.personal)

    # --- what a shopper does: each call records its event ---------------------------------------
    def search_page(self, query: Query, *, shopper: str = "", personalise: bool = True, lang: Lang = "en",
                    record: bool = True) -> Page:  # fmt: skip
        """Everything a results page shows for ``query``; the search is recorded for ``shopper`` (unless
        ``record`` is False: a page opened from its address, which the shopper did not search again).

        Photos and recordings are read only from the upload folders the server declared
        (:meth:`allow_uploads_from`): a request naming any other file on the server is refused.
        """
        for path in (query.image, query.audio):
            if path is not None:
                self.check_upload(path)
        return self.pages.page(query, shopper=shopper, personalise=personalise, lang=lang, record=record)

    def allow_uploads_from(self, *folders: str | Path) -> None:
        """Declare where uploaded files arrive (the web server's upload folder)."""
        self._upload_roots = (*self._upload_roots, *(Path(folder).resolve() for folder in folders))

    def check_upload(self, path: str | Path) -> Path:
        """``path`` resolved, if it lies inside an upload folder; otherwise a refusal that names no path."""
        resolved = Path(path).resolve()
        if not any(resolved.is_relative_to(root) for root in self._upload_roots):
            log.warning("refused a file outside the upload folders: %s", resolved)
            raise InvalidInputError("That file did not come from an upload. Please upload it again.")
        return resolved

    def open_product(self, product_id: str, *, shopper: str = "", similar: int = 8) -> ProductView:
        """A product's panel; records that ``shopper`` viewed it."""
        product = self.product(product_id)
        if product is None:
            raise InvalidInputError("That product is no longer in the catalogue.")
        self.personal.record(shopper, "view", product_id=product_id)
        return ProductView(product, self.similar(product_id, k=similar), self.personal.bought_together(product_id))

    def act(self, kind: Literal["cart", "purchase"], product_id: str, *, shopper: str = "") -> Product:
        """Add to cart or buy; records the event and returns the product."""
        product = self.product(product_id)
        if product is None:
            raise InvalidInputError("That product is no longer in the catalogue.")
        self.personal.record(shopper, kind, product_id=product_id)
        return product

    # --- reviews ----------------------------------------------------------------------------------
    def product_reviews(self, product_id: str, *, shopper: str = "", lang: Lang = "en") -> ReviewsView:
        """A product's reviews, most helpful first, each saying why it is shown where it is."""
        stats = self.reviews.summary(product_id)
        lexicon = self.reviews.analyser.lexicon
        aspects = {aspect: lexicon.name(aspect, lang) for aspect in lexicon.data}
        now = time.time()
        items = [
            ReviewItem(r.review.id, r.review.stars, r.review.text, r.review.author, age_text(now - r.review.created, lang),
                       r.review.helpful, r.why(lang, aspects), r.review.photo is not None,
                       r.photo is not None and not r.photo.matches, r.mine, not r.review.from_shoppers)
            for r in self.reviews.ranked(product_id, shopper)
        ]  # fmt: skip
        return ReviewsView(self.reviews.summary_text(product_id, lang), stats.stars if stats else None,
                           stats.count if stats else 0, items)  # fmt: skip

    def transcribe_review(self, audio: str | Path, *, language: str | None = None) -> str:
        """A voice note as words, for the shopper to correct before posting."""
        return self.reviews.transcribe(self.check_upload(audio), language=language).text

    def post_review(self, shopper: str, product_id: str, stars: int, text: str, *, photo: str | Path | None = None,
                    transcript: str | None = None) -> None:  # fmt: skip
        self.reviews.post(shopper, product_id, stars, text, photo=self.check_upload(photo) if photo else None,
                          transcript=transcript or None)  # fmt: skip

    def review_photo(self, review_id: str) -> Path | None:
        review = self.reviews.reviews.get(review_id)
        return review.photo if review is not None and review.photo is not None and review.photo.is_file() else None

    def for_you(self, shopper: str, *, k: int = 12, lang: Lang = "en") -> ForYou:
        suggestions, cold = self.personal.for_you(shopper, k=k)
        items = [Recommendation(s.product, self.pages.reason_text(s.reason, lang)) for s in suggestions]
        return ForYou(items, cold, text("for_you.cold" if cold else "for_you.warm", lang))

    def suggest(self, prefix: str, *, k: int = 8) -> list[str]:
        """Completions of what the shopper is typing: product names, categories (both languages), popular searches."""
        snapshot = self.engine.snapshot
        release = self.settings.privacy_release_hours * 3600
        key = (snapshot.version, int(time.time() // release) if release else time.monotonic_ns())
        with self._suggester_lock:
            if self._suggester is None or self._suggester[0] != key:
                plain = Suggester.from_products(snapshot.products)
                popular = dict(self.private_stats.popular_searches(plain.phrases()))  # private, and catalogue words only
                self._suggester = (key, Suggester.from_products(snapshot.products, popular=popular))
            suggester = self._suggester[1]
        return [suggestion.text for suggestion in suggester.suggest(prefix[:MAX_PREFIX], k)]

    # --- lower level ----------------------------------------------------------------------------
    def search(self, query: Query) -> SearchResult:
        return self.engine.search(query)

    def similar(self, product_id: str, k: int | None = None) -> list[Hit]:
        return self.engine.similar(product_id, k)

    def product(self, product_id: str) -> Product | None:
        return self.store.products([product_id]).get(product_id)

    def image_path(self, product_id: str) -> Path | None:
        """The picture of an indexed product (never any other file)."""
        product = self.engine.lexical.by_id.get(product_id)
        return product.image if product is not None and product.image.is_file() else None

    def product_count(self) -> int:
        return len(self.engine.lexical)

    def categories(self) -> list[str]:
        return sorted(self.engine.vocabulary()[1])

    def colours(self) -> list[str]:
        return sorted(self.engine.vocabulary()[0])
