"""One search entry point for words, photo and voice, alone or together: hybrid vector + lexical.

A search reads filters from the words (:mod:`engine.search.understand`), composes one CLIP query vector
from photo, words and negative words, gathers candidates from Chroma (nearest neighbours by image
vector and by text vector, under the filters: :mod:`engine.search.candidates`) and from BM25
(:mod:`engine.search.lexical`),
and fuses them into one explained score (:mod:`engine.search.fusion`). The best ``RESULT_POOL`` form
the ranked pool ("show more" pages through it); facet counts describe every product the search ranks
(:mod:`engine.search.facets`). Each search reads one catalogue :class:`~engine.search.snapshot.Snapshot`.

Nothing a search does grows with the catalogue in Python: the catalogue-wide steps (BM25 scores,
filter masks, facet counts) are numpy operations over arrays, the best candidates are found by
partial selection (:func:`~engine.search.lexical.top_k`), and the shopper's filters are applied to the
vector candidates rather than inside Chroma (:mod:`engine.search.candidates`).

When another process (``python -m engine.index``) changes the index, a serving engine notices within
``SHOPLENS_INDEX_POLL_SECONDS`` (one metadata read, no scan) and reads the new catalogue in the
background (:mod:`engine.search.reader`); searches keep the snapshot they started with.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from engine.catalogue.images import load_image
from engine.catalogue.products import Product
from engine.catalogue.store import ProductStore
from engine.errors import InvalidInputError
from engine.models.clip import ClipEmbedder
from engine.models.devices import one_blas_thread
from engine.models.speech import SpeechRecognizer
from engine.search.candidates import CANDIDATES, RESULT_POOL, CandidateGatherer
from engine.search.fusion import LEXICAL_WEIGHT, WEIGHTS, Candidate, compose, fuse, unit
from engine.search.lexical import tokenize
from engine.search.reader import SnapshotReader
from engine.search.snapshot import SavedIndexes, Snapshot
from engine.search.synonyms import Expanded, Expansion
from engine.search.understand import understand
from engine.settings import Settings
from engine.types import KINDS, Constraints, Filters, Hit, Query, SearchResult

log = logging.getLogger(__name__)

# A word added by a synonym counts this much next to a typed word. Checked on the development half of
# assets/eval/natural.jsonl: 0.6 -> nDCG@10 0.918, 0.8 -> 0.933, 1.0 -> 0.933.
SYNONYM_WEIGHT = 0.8
TEXT_VECTOR_CACHE = 1024  # recent query texts whose CLIP vectors are kept (refining a search re-uses them)
SORT_KEYS: dict[str, Callable[[Product], Any]] = {
    "price_asc": lambda p: p.price,
    "price_desc": lambda p: -p.price,
    "rating": lambda p: -(p.rating if p.rating is not None else -1.0),
}


@dataclass(frozen=True)
class Words:
    """What a query's words come to: the text searched, colour/category hints for CLIP, BM25 weights."""

    text: str
    hints: str
    weights: dict[str, float]  # tokens that count less than typed words: corrected words, synonyms


class SearchEngine:
    def __init__(self, settings: Settings, embedder: ClipEmbedder, store: ProductStore, speech: SpeechRecognizer) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.speech = speech
        self._snapshot: Snapshot | None = None
        self._snapshot_lock = threading.Lock()
        self._sequence = 0  # snapshots built by this engine
        self._checked_at = 0.0  # when the index's version was last looked at
        self._refreshing = threading.Lock()  # held while a background refresh runs
        self.saved = SavedIndexes(settings.data_dir / "lexical", settings.collection)
        self.reader = SnapshotReader(store, self.saved)
        self.on_index_change: list[Callable[[], None]] = []  # called after another process's change was picked up
        self.text_vector = lru_cache(maxsize=TEXT_VECTOR_CACHE)(self._embed_text)
        # product id -> stats with .stars, .score; the callable returns None while reviews are still being analysed
        self.review_stats: Callable[[], Mapping[str, Any] | None] | None = None
        self.vectors = True  # False when CLIP could not be loaded: words-only search over the catalogue file
        self.catalogue_path = settings.catalog  # the catalogue being served (its synonyms.txt sits beside it)
        self._review_columns: tuple[tuple[int, int], np.ndarray, np.ndarray] | None = None
        self._workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="shoplens-search")  # shared, bounded
        self.candidates = CandidateGatherer(store, self._workers)
        one_blas_thread()  # the workers' numpy work is small: BLAS's own threads would only spin (see there)

    def _embed_text(self, text: str) -> np.ndarray:
        vector = self.embedder.embed_texts([text])[0]
        vector.setflags(write=False)  # shared between requests through the cache
        return vector

    # --- the catalogue as searched --------------------------------------------------------------
    @property
    def snapshot(self) -> Snapshot:
        """The current catalogue snapshot: built on first use, replaced whole by :meth:`refresh`, and
        re-read in the background when another process changed the index (:meth:`_watch`)."""
        snapshot = self._snapshot
        if snapshot is None:
            with self._snapshot_lock:
                if self._snapshot is None:
                    self._snapshot = self._build()
                snapshot = self._snapshot
        else:
            self._watch(snapshot)
        return snapshot

    def refresh(self) -> Snapshot:
        """Build a snapshot of the store as it is now and swap it in; searches under way keep theirs."""
        with self._snapshot_lock:
            self._snapshot = self._build()
        log.info("catalogue snapshot %d: %d products (index version %s)", self._snapshot.version, len(self._snapshot),
                 self._snapshot.catalogue)  # fmt: skip
        return self._snapshot

    def use_products(self, products: list[Product]) -> Snapshot:
        """Search these products by words alone (no CLIP, so no vector index): the catalogue file itself."""
        with self._snapshot_lock:
            self._snapshot = Snapshot.build(products, self._next_version(), catalogue=self.catalogue_path)
        log.info("catalogue snapshot %d: %d products, words only", self._snapshot.version, len(self._snapshot))
        return self._snapshot

    def _next_version(self) -> int:
        self._sequence += 1
        return self._sequence

    def _build(self) -> Snapshot:
        return self.reader.read(self._next_version(), self.catalogue_path, earlier=self._snapshot)

    def _watch(self, snapshot: Snapshot) -> None:
        """At most every ``index_poll_seconds``, one metadata read; a new settled version is read in the background."""
        every = self.settings.index_poll_seconds
        now = time.monotonic()
        if not every or snapshot.catalogue is None or now < self._checked_at + every:
            return
        self._checked_at = now
        current = self.store.catalogue_version()
        if current is None or current == snapshot.catalogue or not current.settled:
            return
        if self._refreshing.acquire(blocking=False):
            threading.Thread(target=self._refresh_in_background, name="shoplens-snapshot", daemon=True).start()

    def _refresh_in_background(self) -> None:
        try:
            self.refresh()
            for listener in self.on_index_change:
                listener()
        except Exception:  # the shop keeps serving the snapshot it has; the reason goes to the log
            log.exception("re-reading the changed index failed")
        finally:
            self._refreshing.release()

    def review_columns(self, snapshot: Snapshot) -> tuple[np.ndarray, np.ndarray] | None:
        """(mean review stars, "best reviewed" score) per product of ``snapshot`` (NaN/0 when unreviewed);
        None without review statistics, or while they are still being prepared."""
        stats = self.review_stats() if self.review_stats is not None else None
        if stats is None:
            return None
        key = (snapshot.version, id(stats))
        cached = self._review_columns
        if cached is None or cached[0] != key:
            found = [stats.get(pid) for pid in snapshot.lexical.ids]
            stars = np.array([s.stars if s is not None and s.stars is not None else np.nan for s in found], np.float64)
            score = np.array([s.score if s is not None else 0.0 for s in found], np.float64)
            cached = self._review_columns = (key, stars, score)
        return cached[1], cached[2]

    @property
    def lexical(self):
        return self.snapshot.lexical

    def vocabulary(self) -> tuple[set[str], set[str]]:
        snapshot = self.snapshot
        return snapshot.colours, snapshot.categories

    # --- search -------------------------------------------------------------------------------
    def search(self, query: Query) -> SearchResult:
        """The ranked pool (best ``RESULT_POOL``) for ``query``, sorted as asked, with facets and notices.

        A query with no words, photo or voice browses the catalogue under its filters (best rated
        first), so filters alone, or nothing at all, are a valid search.
        """
        started = time.perf_counter()
        snapshot = self.snapshot
        result = SearchResult(hits=[], version=snapshot.version)
        found = self._words(query, result, snapshot)
        words_s = time.perf_counter() - started - result.timings.get("speech", 0.0)  # spelling, synonyms, filters
        words, hints = found.text, found.hints
        image = None
        if query.image is not None and not self.vectors:
            raise InvalidInputError("Photo search needs the CLIP model, which this server could not load. "
                                    "Search with words instead.")  # fmt: skip
        if query.image is not None:
            image = load_image(query.image, max_bytes=self.settings.max_image_bytes, max_pixels=self.settings.max_image_pixels)
        clock = time.perf_counter()
        constraints = result.filters = Constraints(query.filters, Filters.from_understood(result.understood))
        negatives = " ".join([query.negative.strip(), *(result.understood.negatives if result.understood else ())]).strip()
        result.words = words
        reviews = self.review_columns(snapshot)
        stars = reviews[0] if reviews else None
        asks_reviews = query.sort == "reviews" or query.filters.review_min is not None
        if reviews is None and self.review_stats is not None and asks_reviews:
            result.notices.append(("notice.reviews_pending", {}))  # at start-up, before the reviews are analysed
        keep = snapshot.columns.matching(constraints, review_stars=stars)  # the products the filters allow
        # BM25 needs no model: it runs on a worker while CLIP embeds the query (ONNX Runtime and numpy
        # release the GIL), so the words cost next to nothing on top of the model.
        scoring = (self._workers.submit(_timed, self.candidates.score_words, snapshot.lexical, words, found.weights,
                                        None if constraints.is_empty else keep)
                   if words and (query.mode != "vector" or not self.vectors) else None)  # fmt: skip
        ranking = time.perf_counter() - clock
        vector = self._query_vector(query, words, hints, negatives, image, result.timings)
        clock = time.perf_counter()
        candidates = self.candidates.by_vector(vector, None if constraints.is_empty else keep, snapshot) \
            if vector is not None else {}  # fmt: skip
        result.timings["vector_search"] = time.perf_counter() - clock
        clock = time.perf_counter()
        lexical, bm25_s = scoring.result() if scoring is not None else (None, 0.0)
        # The lexical stage's own cost, as if it did not overlap the embedding: reading the words plus BM25.
        result.timings["lexical"] = words_s + bm25_s
        if lexical is not None:
            self.candidates.add_lexical(candidates, lexical, keep, snapshot)
        ranked_set = None  # which products the search ranks: all under the filters, unless only words rank
        if vector is None and not words:
            result.browsed = True
            order = self._sort_column("rating" if query.sort == "relevance" else query.sort, snapshot, reviews)
            self.candidates.add_browse(candidates, keep, order, snapshot)
        elif vector is None:
            ranked_set = lexical.scores > 0
        self.candidates.fill_missing_similarities(candidates, vector, snapshot)
        self._flag_negatives(candidates, negatives, snapshot)
        mode = "both" if (words or hints) and image is not None else ("photo" if image is not None else "words")
        ranked = fuse(candidates, WEIGHTS[mode], LEXICAL_WEIGHT if lexical is not None else 0.0,
                      use_vectors=query.mode != "lexical", limit=RESULT_POOL)  # fmt: skip
        result.matching = int((keep if ranked_set is None else keep & ranked_set).sum())
        result.facets = snapshot.columns.counts(constraints, ranked_set, stars)
        self._finish(result, ranked, candidates, words, query, snapshot, reviews)
        result.timings["ranking"] = ranking + time.perf_counter() - clock  # fusion, facets, explanations
        wall = ("speech", "embedding", "vector_search", "ranking")  # the lexical stage overlaps the embedding
        result.timings["rest"] = max(0.0, time.perf_counter() - started - sum(result.timings.get(k, 0.0) for k in wall))
        log.info("search %r%s%s filters=%s sort=%s -> %d of %d in %.0f ms", words, " +photo" if image is not None else "",
                 " +voice" if query.audio else "", constraints.where(), query.sort, len(result.hits), result.matching,
                 1000 * (time.perf_counter() - started))  # fmt: skip
        return result

    def similar(self, product_id: str, k: int | None = None) -> list[Hit]:
        """More like this: products closest to one product by its own image and text vectors."""
        if not self.vectors:
            return []  # words-only mode: no vectors to compare
        snapshot = self.snapshot
        position = snapshot.lexical.position.get(product_id)
        table = snapshot.vectors
        own = {kind: table.vector(position, kind) if table is not None and position is not None else None for kind in KINDS}
        if any(vector is None for vector in own.values()):
            raise InvalidInputError("That product is no longer in the catalogue.")
        k = k or self.settings.top_k
        # a product close by one vector may be the best by both: gather widely, then rank
        candidates = self.candidates.by_vectors(own, None, snapshot, depth=max(CANDIDATES, k + 1))
        candidates.pop(product_id, None)
        for kind in KINDS:
            self.candidates.fill_missing_similarities(candidates, own[kind], snapshot, kinds=(kind,))
        ranked = fuse(candidates, (0.5, 0.5), 0.0, limit=k)
        return [self._hit(candidates[pid], score, breakdown, snapshot) for score, pid, breakdown in ranked]

    # --- steps --------------------------------------------------------------------------------
    def _words(self, query: Query, result: SearchResult, snapshot: Snapshot) -> Words:
        """The words to search, from typed text and speech: spelling fixed, synonyms added, filters read out."""
        typed = self._typed(query, result, snapshot)
        spoken = self._spoken(query, result)
        joined = " ".join(filter(None, [typed, spoken]))
        use_synonyms = query.synonyms and "synonyms" not in query.dropped
        expanded = snapshot.synonyms.expand(joined) if use_synonyms and joined else Expanded()
        result.expansions = expanded.expansions
        extra = " ".join(expanded.terms)
        weights = {token: SYNONYM_WEIGHT for token in set(tokenize(extra)) - set(tokenize(joined))}
        for correction in result.corrections:
            weights.update({token: correction.weight for token in tokenize(correction.corrected)})
        text = " ".join(filter(None, [joined, extra]))
        if not query.understand or not text:
            return Words(text, "", weights)
        understood = understand(text, snapshot.colours, snapshot.categories).without(query.dropped)
        if understood.phrases:
            result.understood = understood
        # Synonyms read as filters ("critter => toy") still count as words, so they rank what they filter.
        kept = set(tokenize(understood.text))
        searched = " ".join([understood.text, *(t for t in expanded.terms if not set(tokenize(t)) <= kept)]).strip()
        return Words(searched, " ".join([*understood.colours, *understood.categories]), weights)

    def _typed(self, query: Query, result: SearchResult, snapshot: Snapshot) -> str:
        """The typed words, cut to the length limit and (unless asked not to) spelled right."""
        typed = " ".join((query.text or "").split())
        if len(typed) > self.settings.max_query_chars:
            typed = typed[: self.settings.max_query_chars].rsplit(" ", 1)[0] or typed[: self.settings.max_query_chars]
            result.notices.append(("notice.long_query", {"limit": self.settings.max_query_chars}))
        if not typed or query.spelling == "off" or "spelling" in query.dropped:
            return typed
        spelled = snapshot.spelling.correct(typed, keep_english=query.spelling != "eager")
        if spelled.changed:
            result.corrections, result.corrected = spelled.corrections, spelled.text
        return spelled.text

    def _spoken(self, query: Query, result: SearchResult) -> str:
        if query.audio is None:
            return ""
        clock = time.perf_counter()
        result.transcript = self.speech.transcribe(query.audio, translate=query.translate_speech,
                                                   language=query.speech_language)  # fmt: skip
        result.timings["speech"] = time.perf_counter() - clock
        if result.transcript.trimmed:
            result.notices.append(("notice.trimmed_audio", {"seconds": self.settings.max_audio_seconds}))
        return result.transcript.text

    def _query_vector(self, query: Query, words: str, hints: str, negatives: str, image: Image.Image | None,
                      timings: dict[str, float]) -> np.ndarray | None:  # fmt: skip
        if query.mode == "lexical" or not self.vectors or (not words and not hints and image is None):
            return None
        clock = time.perf_counter()
        text = " ".join(filter(None, [words, hints]))
        word_vector = unit(self.text_vector(text)) if text else None
        negative_vector = unit(self.text_vector(negatives)) if negatives else None
        photo_vector = self.embedder.embed_images([image])[0] if image is not None else None
        timings["embedding"] = time.perf_counter() - clock
        return compose(word_vector, photo_vector, negative_vector, query.text_weight)

    @staticmethod
    def _sort_column(sort: str, snapshot: Snapshot, reviews) -> np.ndarray:
        """:data:`SORT_KEYS` as one array over the snapshot's products (smaller first)."""
        columns = snapshot.columns
        if sort == "reviews":
            return -reviews[1] if reviews else np.zeros(len(columns))
        return {"price_asc": columns.price, "price_desc": -columns.price, "rating": -columns.rating}[sort]

    def _flag_negatives(self, candidates: dict[str, Candidate], negatives: str, snapshot: Snapshot) -> None:
        if not negatives:
            return
        for candidate in candidates.values():
            candidate.negative = bool(snapshot.lexical.matched_words(negatives, snapshot.products[candidate.position]))

    @staticmethod
    def _synonyms_found(expansions: list[Expansion], product: Product, snapshot: Snapshot) -> tuple[str, ...]:
        """The synonyms a product was found by: those whose added words its text contains."""
        return tuple(e.explain() for e in expansions if snapshot.lexical.matched_words(" ".join(e.added), product))

    @staticmethod
    def _sort_key(sort: str, snapshot: Snapshot, reviews) -> Callable[[Product], Any]:
        if sort != "reviews":
            return SORT_KEYS[sort]
        score = dict(zip(snapshot.lexical.ids, reviews[1])) if reviews else {}
        return lambda p: -score.get(p.id, 0.0)

    def _finish(self, result: SearchResult, ranked: list, candidates: dict[str, Candidate], words: str, query: Query,
                snapshot: Snapshot, reviews) -> None:  # fmt: skip
        pool = [self._hit(candidates[pid], score, breakdown, snapshot) for score, pid, breakdown in ranked]
        if query.sort != "relevance" or result.browsed:  # browsing has no relevance: best rated first
            key = self._sort_key("rating" if query.sort == "relevance" else query.sort, snapshot, reviews)
            pool.sort(key=lambda hit: key(hit.product))  # stable: ties keep their relevance order
        result.total = len(pool)
        result.pool = pool
        k = query.k or self.settings.top_k
        result.pool[:k] = self.explain(result.pool[:k], result, snapshot)
        result.hits = result.pool[:k]

    @staticmethod
    def _hit(candidate: Candidate, score: float, breakdown: dict[str, float], snapshot: Snapshot) -> Hit:
        return Hit(snapshot.products[candidate.position], score, dict(candidate.similarity), tuple(candidate.matched), breakdown)

    def explain(self, hits: list[Hit], result: SearchResult, snapshot: Snapshot | None = None) -> list[Hit]:
        """Hits with the query words and synonyms their text matched (for highlighting and "why").

        Done for the hits a page shows, not the whole pool: a page that re-orders the pool (for a
        shopper's taste) explains the hits it ends up showing.
        """
        snapshot = snapshot or self.snapshot
        words = result.words
        return [
            hit if hit.matched_words or hit.synonyms else
            replace(hit, matched_words=tuple(snapshot.lexical.matched_words(words, hit.product)) if words else (),
                    synonyms=self._synonyms_found(result.expansions, hit.product, snapshot))
            for hit in hits
        ]  # fmt: skip


def _timed(call: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """``call(*args)`` and the CPU seconds it took on this worker thread. CPU time, not the clock: it
    runs while the embedding keeps every core busy, so its wall time measures the sharing, not its cost."""
    started = time.thread_time()
    return call(*args), time.thread_time() - started
