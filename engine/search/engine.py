"""One search entry point for words, photo and voice, alone or together: hybrid vector + lexical.

A search reads filters from the words (:mod:`engine.search.understand`), composes one CLIP query vector
from photo, words and negative words, gathers candidates from Chroma (nearest neighbours by image
vector and by text vector, filters applied inside the store) and from BM25 (:mod:`engine.search.lexical`),
and fuses them into one explained score (:mod:`engine.search.fusion`). Facet counts describe the ranked
result set (the best ``RESULT_POOL`` products under the filters); the first ``k`` are the hits.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from engine.catalogue.images import load_image
from engine.catalogue.store import ProductStore
from engine.errors import InvalidInputError
from engine.models.clip import ClipEmbedder
from engine.models.speech import SpeechRecognizer
from engine.search.fusion import (
    LEXICAL_WEIGHT,
    WEIGHTS,
    Candidate,
    compose,
    facets,
    fuse,
    unit,
)
from engine.search.lexical import LexicalIndex
from engine.search.understand import Understood, understand
from engine.settings import Settings
from engine.types import KINDS, Filters, Hit, Query, SearchResult

log = logging.getLogger(__name__)

CANDIDATE_FACTOR = 4
MIN_CANDIDATES = 40
RESULT_POOL = 100


class SearchEngine:
    def __init__(self, settings: Settings, embedder: ClipEmbedder, store: ProductStore, speech: SpeechRecognizer) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.speech = speech
        self._lexical: LexicalIndex | None = None

    @property
    def lexical(self) -> LexicalIndex:
        if self._lexical is None:
            self._lexical = LexicalIndex(self.store.products(sorted(self.store.stored_product_ids())).values())
        return self._lexical

    def refresh(self) -> None:
        """Rebuild the lexical index from the store (after the catalogue was re-indexed)."""
        self._lexical = None
        log.info("lexical index: %d products", len(self.lexical))

    def vocabulary(self) -> tuple[set[str], set[str]]:
        return self.lexical.colours, self.lexical.categories

    # --- search -------------------------------------------------------------------------------
    def search(self, query: Query) -> SearchResult:
        started = time.perf_counter()
        result = SearchResult(hits=[])
        words, hints = self._words(query, result)
        image = None
        if query.image is not None:
            image = load_image(query.image, max_bytes=self.settings.max_image_bytes, max_pixels=self.settings.max_image_pixels)
        if not words and not hints and image is None and not result.understood:
            raise InvalidInputError("Type something, add a photo or record your voice to search.")
        clock = time.perf_counter()
        filters = result.filters = query.filters.with_understood(result.understood or Understood(text=""))
        negatives = " ".join([query.negative.strip(), *(result.understood.negatives if result.understood else ())]).strip()
        result.timings["lexical"] = time.perf_counter() - clock
        vector = self._query_vector(query, words, hints, negatives, image, result.timings)
        clock = time.perf_counter()
        candidates = self._vector_candidates(vector, query, filters) if vector is not None else {}
        result.timings["vector_search"] = time.perf_counter() - clock
        clock = time.perf_counter()
        if query.mode != "vector" and words:
            self._add_lexical(candidates, words, filters, query)
        if vector is None and not words:
            self._add_browse(candidates, filters)  # only filters were asked for: the best rated first
        self._fill_missing_similarities(candidates, vector)
        self._flag_negatives(candidates, negatives)
        mode = "both" if (words or hints) and image is not None else ("photo" if image is not None else "words")
        ranked = fuse(candidates, WEIGHTS[mode], LEXICAL_WEIGHT if words and query.mode != "vector" else 0.0,
                      use_vectors=query.mode != "lexical")  # fmt: skip
        self._finish(result, ranked, candidates, words, query.k or self.settings.top_k)
        result.timings["lexical"] += time.perf_counter() - clock - result.timings.pop("products", 0.0)
        result.timings["rest"] = max(0.0, time.perf_counter() - started - sum(result.timings.values()))
        log.info("search %r%s%s filters=%s -> %d of %d in %.0f ms", words, " +photo" if image is not None else "",
                 " +voice" if query.audio else "", filters.where(), len(result.hits), result.total,
                 1000 * (time.perf_counter() - started))  # fmt: skip
        return result

    def similar(self, product_id: str, k: int | None = None) -> list[Hit]:
        """More like this: products closest to one product by its own image and text vectors."""
        own = {kind: self.store.vectors([product_id], kind).get(product_id) for kind in KINDS}
        if any(vector is None for vector in own.values()):
            raise InvalidInputError("That product is no longer in the catalogue.")
        k = k or self.settings.top_k
        candidates: dict[str, Candidate] = {}
        for kind in KINDS:
            for match in self.store.query(own[kind], kind, k + 1):
                candidate = candidates.setdefault(match.product_id, Candidate())
                candidate.similarity[kind] = match.similarity
                candidate.matched.append(kind)
        candidates.pop(product_id, None)
        for kind in KINDS:
            missing = [pid for pid, c in candidates.items() if kind not in c.similarity]
            for pid, vector in self.store.vectors(missing, kind).items():
                candidates[pid].similarity[kind] = float(vector @ own[kind])
        ranked = fuse(candidates, (0.5, 0.5), 0.0)[:k]
        products = self.store.products([pid for _, pid, _ in ranked])
        return [Hit(products[pid], score, dict(candidates[pid].similarity), tuple(candidates[pid].matched), breakdown)
                for score, pid, breakdown in ranked if pid in products]  # fmt: skip

    # --- steps --------------------------------------------------------------------------------
    def _words(self, query: Query, result: SearchResult) -> tuple[str, str]:
        """(words to search, colour/category hints for CLIP), from typed text and speech."""
        texts = []
        typed = " ".join((query.text or "").split())
        if len(typed) > self.settings.max_query_chars:
            typed = typed[: self.settings.max_query_chars].rsplit(" ", 1)[0] or typed[: self.settings.max_query_chars]
            result.notices.append(f"Your query was long, so only its first {self.settings.max_query_chars} characters were used.")
        if typed:
            texts.append(typed)
        if query.audio is not None:
            clock = time.perf_counter()
            result.transcript = self.speech.transcribe(query.audio, translate=query.translate_speech,
                                                       language=query.speech_language)  # fmt: skip
            result.timings["speech"] = time.perf_counter() - clock
            texts.append(result.transcript.text)
            if result.transcript.trimmed:
                result.notices.append(f"Only the first {self.settings.max_audio_seconds:g} s of the recording were used.")
        joined = " ".join(texts)
        if not query.understand or not joined:
            return joined, ""
        colours, categories = self.vocabulary()
        understood = understand(joined, colours, categories)
        if understood.phrases:
            result.understood = understood
        return understood.text, " ".join([*understood.colours, *understood.categories])

    def _query_vector(self, query: Query, words: str, hints: str, negatives: str, image, timings) -> np.ndarray | None:
        if query.mode == "lexical" or (not words and not hints and image is None):
            return None
        clock = time.perf_counter()
        texts = [" ".join(filter(None, [words, hints]))] if (words or hints) else []
        encoded = self.embedder.embed_texts(texts + ([negatives] if negatives else []))
        word_vector = unit(encoded[0]) if texts else None
        negative_vector = unit(encoded[-1]) if negatives else None
        photo_vector = self.embedder.embed_images([image])[0] if image is not None else None
        timings["embedding"] = time.perf_counter() - clock
        return compose(word_vector, photo_vector, negative_vector, query.text_weight)

    def _vector_candidates(self, vector: np.ndarray, query: Query, filters: Filters) -> dict[str, Candidate]:
        n = max((query.k or self.settings.top_k) * CANDIDATE_FACTOR, MIN_CANDIDATES, RESULT_POOL)
        candidates: dict[str, Candidate] = {}
        for kind in KINDS:
            for match in self.store.query(vector, kind, n, filters.where()):
                candidate = candidates.setdefault(match.product_id, Candidate())
                candidate.similarity[kind] = match.similarity
                candidate.matched.append(kind)
        return candidates

    def _add_lexical(self, candidates: dict[str, Candidate], words: str, filters: Filters, query: Query) -> None:
        by_id = self.lexical.by_id
        scored = [(score, pid) for pid, score in self.lexical.scores(words).items() if filters.matches(by_id[pid])]
        n = max((query.k or self.settings.top_k) * CANDIDATE_FACTOR, RESULT_POOL)
        in_pool = {pid for _, pid in sorted(scored, reverse=True)[:n]}
        for score, pid in scored:
            if pid in in_pool or pid in candidates:
                candidate = candidates.setdefault(pid, Candidate())
                candidate.bm25 = score
                if pid in in_pool:
                    candidate.matched.append("lexical")

    def _add_browse(self, candidates: dict[str, Candidate], filters: Filters) -> None:
        ranked = sorted((p for p in self.lexical.products if filters.matches(p)), key=lambda p: (-(p.rating or 0), p.id))
        for product in ranked[:RESULT_POOL]:
            candidates.setdefault(product.id, Candidate(matched=["filters"]))

    def _fill_missing_similarities(self, candidates: dict[str, Candidate], vector: np.ndarray | None) -> None:
        """Exact similarity for the vector kind a candidate was not retrieved by."""
        if vector is None:
            return
        for kind in KINDS:
            missing = [pid for pid, candidate in candidates.items() if kind not in candidate.similarity]
            for pid, stored in self.store.vectors(missing, kind).items():
                candidates[pid].similarity[kind] = float(stored @ vector)

    def _flag_negatives(self, candidates: dict[str, Candidate], negatives: str) -> None:
        if not negatives:
            return
        by_id = self.lexical.by_id
        for pid, candidate in candidates.items():
            candidate.negative = pid in by_id and bool(self.lexical.matched_words(negatives, by_id[pid]))

    def _finish(self, result: SearchResult, ranked, candidates: dict[str, Candidate], words: str, k: int) -> None:
        pool = ranked[:RESULT_POOL]
        clock = time.perf_counter()
        products = self.store.products([pid for _, pid, _ in pool])
        result.timings["products"] = time.perf_counter() - clock
        pool = [(score, pid, breakdown) for score, pid, breakdown in pool if pid in products]
        result.total = len(pool)
        result.facets = facets(products[pid] for _, pid, _ in pool)
        result.pool = [
            Hit(products[pid], score, dict(candidates[pid].similarity), tuple(candidates[pid].matched), breakdown,
                tuple(self.lexical.matched_words(words, products[pid])) if words else ())
            for score, pid, breakdown in pool
        ]  # fmt: skip
        result.hits = result.pool[:k]
        if not result.hits:
            result.notices.append("No products match these filters." if result.filters.where() else "The catalogue is empty.")
