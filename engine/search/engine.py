"""One search entry point for words, photo and voice, alone or together: hybrid vector + lexical.

A search reads filters from the words (:mod:`engine.search.understand`), composes one CLIP query vector
from photo, words and negative words, gathers candidates from Chroma (nearest neighbours by image
vector and by text vector, filters applied inside the store) and from BM25 (:mod:`engine.search.lexical`),
and fuses them into one explained score (:mod:`engine.search.fusion`). The best ``RESULT_POOL`` form
the ranked pool ("show more" pages through it); facet counts describe every product the search ranks
(:mod:`engine.search.facets`). Each search reads one catalogue :class:`~engine.search.snapshot.Snapshot`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from engine.catalogue.images import load_image
from engine.catalogue.products import Product
from engine.catalogue.store import ProductStore
from engine.errors import InvalidInputError
from engine.models.clip import ClipEmbedder
from engine.models.speech import SpeechRecognizer
from engine.search.fusion import LEXICAL_WEIGHT, WEIGHTS, Candidate, compose, fuse, unit
from engine.search.lexical import tokenize
from engine.search.snapshot import Snapshot
from engine.search.synonyms import Expanded, Expansion
from engine.search.understand import understand
from engine.settings import Settings
from engine.types import KINDS, MAX_RESULTS, Constraints, Filters, Hit, Query, SearchResult, Sort

log = logging.getLogger(__name__)

# A word added by a synonym counts this much next to a typed word. Checked on the development half of
# assets/eval/natural.jsonl: 0.6 -> nDCG@10 0.918, 0.8 -> 0.933, 1.0 -> 0.933.
SYNONYM_WEIGHT = 0.8
RESULT_POOL = MAX_RESULTS
# Candidates per list (image vectors, text vectors, BM25). Independent of how many hits are shown, so
# "show more" pages through one fixed ranking.
CANDIDATES = RESULT_POOL
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
        self.text_vector = lru_cache(maxsize=TEXT_VECTOR_CACHE)(self._embed_text)

    def _embed_text(self, text: str) -> np.ndarray:
        vector = self.embedder.embed_texts([text])[0]
        vector.setflags(write=False)  # shared between requests through the cache
        return vector

    # --- the catalogue as searched --------------------------------------------------------------
    @property
    def snapshot(self) -> Snapshot:
        """The current catalogue snapshot (built on first use; replaced whole by :meth:`refresh`)."""
        snapshot = self._snapshot
        if snapshot is None:
            with self._snapshot_lock:
                if self._snapshot is None:
                    self._snapshot = self._build(version=1)
                snapshot = self._snapshot
        return snapshot

    def refresh(self) -> Snapshot:
        """Build a snapshot of the store as it is now and swap it in; searches under way keep theirs."""
        with self._snapshot_lock:
            version = self._snapshot.version + 1 if self._snapshot else 1
            self._snapshot = self._build(version)
        log.info("catalogue snapshot %d: %d products", version, len(self._snapshot))
        return self._snapshot

    def _build(self, version: int) -> Snapshot:
        products = self.store.products(sorted(self.store.stored_product_ids())).values()
        return Snapshot.build(products, version, catalogue=self.settings.catalog)

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
        result = SearchResult(hits=[])
        found = self._words(query, result, snapshot)
        words, hints = found.text, found.hints
        image = None
        if query.image is not None:
            image = load_image(query.image, max_bytes=self.settings.max_image_bytes, max_pixels=self.settings.max_image_pixels)
        clock = time.perf_counter()
        constraints = result.filters = Constraints(query.filters, Filters.from_understood(result.understood))
        negatives = " ".join([query.negative.strip(), *(result.understood.negatives if result.understood else ())]).strip()
        result.words = words
        result.timings["lexical"] = time.perf_counter() - clock
        vector = self._query_vector(query, words, hints, negatives, image, result.timings)
        clock = time.perf_counter()
        candidates = self._vector_candidates(vector, constraints) if vector is not None else {}
        result.timings["vector_search"] = time.perf_counter() - clock
        clock = time.perf_counter()
        bm25 = snapshot.lexical.score_array(words, found.weights) if words and query.mode != "vector" else None
        if bm25 is not None:
            self._add_lexical(candidates, bm25, constraints, snapshot)
        ranked_set = None  # which products the search ranks: all under the filters, unless only words rank
        if vector is None and not words:
            result.browsed = True
            self._add_browse(candidates, constraints, query.sort, snapshot)
        elif vector is None:
            ranked_set = bm25 > 0
        self._fill_missing_similarities(candidates, vector)
        self._flag_negatives(candidates, negatives, snapshot)
        mode = "both" if (words or hints) and image is not None else ("photo" if image is not None else "words")
        ranked = fuse(candidates, WEIGHTS[mode], LEXICAL_WEIGHT if bm25 is not None else 0.0,
                      use_vectors=query.mode != "lexical")  # fmt: skip
        result.matching = int(snapshot.columns.matching(constraints, ranked_set).sum())
        result.facets = snapshot.columns.counts(constraints, ranked_set)
        self._finish(result, ranked, candidates, words, query, snapshot)
        result.timings["lexical"] += time.perf_counter() - clock
        result.timings["rest"] = max(0.0, time.perf_counter() - started - sum(result.timings.values()))
        log.info("search %r%s%s filters=%s sort=%s -> %d of %d in %.0f ms", words, " +photo" if image is not None else "",
                 " +voice" if query.audio else "", constraints.where(), query.sort, len(result.hits), result.matching,
                 1000 * (time.perf_counter() - started))  # fmt: skip
        return result

    def similar(self, product_id: str, k: int | None = None) -> list[Hit]:
        """More like this: products closest to one product by its own image and text vectors."""
        snapshot = self.snapshot
        own = {kind: self.store.vectors([product_id], kind).get(product_id) for kind in KINDS}
        if any(vector is None for vector in own.values()):
            raise InvalidInputError("That product is no longer in the catalogue.")
        k = k or self.settings.top_k
        candidates: dict[str, Candidate] = {}
        for kind in KINDS:  # a product close by one vector may be the best by both: gather widely, then rank
            for match in self.store.query(own[kind], kind, max(CANDIDATES, k + 1)):
                candidate = candidates.setdefault(match.product_id, Candidate())
                candidate.similarity[kind] = match.similarity
                candidate.matched.append(kind)
        candidates.pop(product_id, None)
        for kind in KINDS:
            missing = [pid for pid, c in candidates.items() if kind not in c.similarity]
            for pid, vector in self.store.vectors(missing, kind).items():
                candidates[pid].similarity[kind] = float(vector @ own[kind])
        ranked = fuse(candidates, (0.5, 0.5), 0.0)[:k]
        return [Hit(snapshot.by_id[pid], score, dict(candidates[pid].similarity), tuple(candidates[pid].matched), breakdown)
                for score, pid, breakdown in ranked if pid in snapshot.by_id]  # fmt: skip

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
        if query.mode == "lexical" or (not words and not hints and image is None):
            return None
        clock = time.perf_counter()
        text = " ".join(filter(None, [words, hints]))
        word_vector = unit(self.text_vector(text)) if text else None
        negative_vector = unit(self.text_vector(negatives)) if negatives else None
        photo_vector = self.embedder.embed_images([image])[0] if image is not None else None
        timings["embedding"] = time.perf_counter() - clock
        return compose(word_vector, photo_vector, negative_vector, query.text_weight)

    def _vector_candidates(self, vector: np.ndarray, filters: Constraints) -> dict[str, Candidate]:
        candidates: dict[str, Candidate] = {}
        for kind in KINDS:
            for match in self.store.query(vector, kind, CANDIDATES, filters.where()):
                candidate = candidates.setdefault(match.product_id, Candidate())
                candidate.similarity[kind] = match.similarity
                candidate.matched.append(kind)
        return candidates

    def _add_lexical(self, candidates: dict[str, Candidate], bm25: np.ndarray, filters: Constraints,
                     snapshot: Snapshot) -> None:  # fmt: skip
        """BM25's best matches under the filters join the candidates; other candidates get their score."""
        eligible = np.flatnonzero((bm25 > 0) & snapshot.columns.matching(filters))
        best = eligible[np.argsort(-bm25[eligible], kind="stable")[:CANDIDATES]]
        ids = snapshot.lexical.ids
        for i in best:
            candidate = candidates.setdefault(ids[i], Candidate())
            candidate.matched.append("lexical")
        for i in eligible:
            if ids[i] in candidates:
                candidates[ids[i]].bm25 = float(bm25[i])

    def _add_browse(self, candidates: dict[str, Candidate], filters: Constraints, sort: Sort, snapshot: Snapshot) -> None:
        """Only filters were asked for: the pool is the best rated (or cheapest, ...) products under them."""
        key = SORT_KEYS["rating" if sort == "relevance" else sort]
        keep = snapshot.columns.matching(filters)
        chosen = sorted((p for p, kept in zip(snapshot.products, keep) if kept), key=lambda p: (key(p), p.id))
        for product in chosen[:RESULT_POOL]:
            candidates.setdefault(product.id, Candidate(matched=["filters"]))

    def _fill_missing_similarities(self, candidates: dict[str, Candidate], vector: np.ndarray | None) -> None:
        """Exact similarity for the vector kind a candidate was not retrieved by."""
        if vector is None:
            return
        for kind in KINDS:
            missing = [pid for pid, candidate in candidates.items() if kind not in candidate.similarity]
            for pid, stored in self.store.vectors(missing, kind).items():
                candidates[pid].similarity[kind] = float(stored @ vector)

    def _flag_negatives(self, candidates: dict[str, Candidate], negatives: str, snapshot: Snapshot) -> None:
        if not negatives:
            return
        for pid, candidate in candidates.items():
            product = snapshot.by_id.get(pid)
            candidate.negative = product is not None and bool(snapshot.lexical.matched_words(negatives, product))

    @staticmethod
    def _synonyms_found(expansions: list[Expansion], product: Product, snapshot: Snapshot) -> tuple[str, ...]:
        """The synonyms a product was found by: those whose added words its text contains."""
        return tuple(e.explain() for e in expansions if snapshot.lexical.matched_words(" ".join(e.added), product))

    def _finish(self, result: SearchResult, ranked: list, candidates: dict[str, Candidate], words: str, query: Query,
                snapshot: Snapshot) -> None:  # fmt: skip
        products = snapshot.by_id
        pool = [(score, pid, breakdown) for score, pid, breakdown in ranked if pid in products][:RESULT_POOL]
        if query.sort != "relevance" or result.browsed:  # browsing has no relevance: best rated first
            key = SORT_KEYS["rating" if query.sort == "relevance" else query.sort]
            pool.sort(key=lambda item: key(products[item[1]]))  # stable: ties keep their relevance order
        result.total = len(pool)
        result.pool = [
            Hit(products[pid], score, dict(candidates[pid].similarity), tuple(candidates[pid].matched), breakdown,
                tuple(snapshot.lexical.matched_words(words, products[pid])) if words else (),
                self._synonyms_found(result.expansions, products[pid], snapshot))
            for score, pid, breakdown in pool
        ]  # fmt: skip
        result.hits = result.pool[: query.k or self.settings.top_k]
