"""A search's candidates: nearest products by vector, BM25's best, or the best under filters alone.

Each list holds at most ``CANDIDATES`` products, however many hits are shown, so "show more" pages
through one fixed ranking. The shopper's filters are applied to the vector candidates here, to the
snapshot's columns, rather than inside Chroma (see :meth:`CandidateGatherer.nearest`). A candidate
found by one list gets the similarities it lacks from the snapshot's table of product vectors
(:mod:`engine.search.vectors`), which also serves the exact comparisons under filters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from engine.catalogue.records import VectorMatch
from engine.catalogue.store import ProductStore
from engine.search.fusion import Candidate
from engine.search.lexical import LexicalIndex, best_positions, top_k
from engine.search.snapshot import Snapshot
from engine.search.vectors import VectorTable
from engine.types import KINDS, MAX_RESULTS, Kind

RESULT_POOL = MAX_RESULTS
# Candidates per list (image vectors, text vectors, BM25). Independent of how many hits are shown, so
# "show more" pages through one fixed ranking.
CANDIDATES = RESULT_POOL
# Filters on the vector candidates (see CandidateGatherer.nearest). Measured at 100k products
# (bench/scale.py): Chroma reads its n nearest in about 2 ms + 7 µs per neighbour, and a Chroma search
# restricted to a list of ids costs 20-80 ms, while the snapshot's vector table compares about 2.5
# products per µs. So the unfiltered neighbours are read OVERFETCH times as deep as the allowed share
# needs, when that is at most FETCH_LIMIT deep and comparing the allowed products exactly would cost
# more (more than EXACT_FREE + EXACT_PER_NEIGHBOUR per neighbour read); otherwise up to EXACT_LIMIT
# allowed products are compared exactly, and only beyond that does Chroma search among the allowed ids.
OVERFETCH = 1.2
FETCH_LIMIT = 1000
EXACT_FREE = 5000
EXACT_PER_NEIGHBOUR = 16
EXACT_LIMIT = 100_000


class LexicalScores(NamedTuple):
    scores: np.ndarray  # BM25 of every product, in snapshot order
    best: np.ndarray  # positions of the best CANDIDATES under the filters, best first


class CandidateGatherer:
    """Gathers the candidates of one search from the vector store, from BM25 or from the filters."""

    def __init__(self, store: ProductStore, workers: ThreadPoolExecutor) -> None:
        self.store = store
        self._workers = workers  # the engine's, shared and bounded

    def by_vector(self, vector: np.ndarray, keep: np.ndarray | None, snapshot: Snapshot) -> dict[str, Candidate]:
        """Nearest products to ``vector`` by image vector and by text vector."""
        return self.by_vectors(dict.fromkeys(KINDS, vector), keep, snapshot)

    def by_vectors(self, vectors: Mapping[Kind, np.ndarray], keep: np.ndarray | None, snapshot: Snapshot,
                   depth: int | None = None) -> dict[str, Candidate]:  # fmt: skip
        """Nearest ``depth`` (``CANDIDATES``) products to ``vectors[kind]`` by each kind's vector: the store
        queries side by side."""
        candidates: dict[str, Candidate] = {}
        found = self._workers.map(lambda kind: (kind, self.nearest(vectors[kind], kind, keep, snapshot, depth)), vectors)
        for kind, matches in found:
            for match in matches:
                candidate = candidates.get(match.product_id)
                if candidate is None:
                    at = snapshot.lexical.position.get(match.product_id)
                    if at is None:  # written since this snapshot was read: shown from the next one, which holds its record
                        continue
                    candidate = candidates[match.product_id] = Candidate(position=at)
                candidate.similarity[kind] = match.similarity
                candidate.matched.append(kind)
        return candidates

    def nearest(self, vector: np.ndarray, kind: Kind, keep: np.ndarray | None, snapshot: Snapshot,
                n: int | None = None) -> list[VectorMatch]:  # fmt: skip
        """The ``n`` (``CANDIDATES``) nearest products by their ``kind`` vector among those ``keep`` allows
        (None: all).

        A filter inside Chroma costs time in proportion to the records it matches, so the filters are
        applied here, to the snapshot's columns, whichever way is cheapest (see ``OVERFETCH``): the
        unfiltered neighbours read deep enough that about ``n`` of them should pass (those
        that do are exactly the best allowed ones), or the allowed products compared exactly with
        the snapshot's vector table, or, for very many, Chroma searching among them.
        """
        n = CANDIDATES if n is None else n
        if keep is None:
            return self.store.query(vector, kind, n)
        allowed = np.flatnonzero(keep)
        if not len(allowed):
            return []
        depth = min(math.ceil(n * len(keep) / len(allowed) * OVERFETCH), len(keep))
        position = snapshot.lexical.position
        while depth <= FETCH_LIMIT and len(allowed) > EXACT_FREE + EXACT_PER_NEIGHBOUR * depth:
            passed = [m for m in self.store.query(vector, kind, depth)
                      if (i := position.get(m.product_id)) is not None and keep[i]]  # fmt: skip
            if len(passed) >= n or depth >= len(keep):
                return passed[:n]
            depth = min(2 * depth, len(keep))  # too few passed: read twice as deep while that stays cheaper
        if len(allowed) <= EXACT_LIMIT:
            return self._exact(vector, kind, allowed, snapshot, n)
        ids = snapshot.lexical.ids
        return self.store.query(vector, kind, n, among=[ids[i] for i in allowed])

    @staticmethod
    def _exact(vector: np.ndarray, kind: Kind, allowed: np.ndarray, snapshot: Snapshot, n: int) -> list[VectorMatch]:
        """The best ``n`` of the products at positions ``allowed`` by exact cosine similarity
        (ties by product id: the positions follow the ids)."""
        similarity = _vectors(snapshot).similarities(allowed, kind, vector)
        held = ~np.isnan(similarity)
        allowed, similarity = allowed[held], similarity[held]
        ids = snapshot.lexical.ids
        return [VectorMatch(ids[allowed[i]], float(similarity[i])) for i in top_k(similarity, n)]

    @staticmethod
    def score_words(lexical: LexicalIndex, words: str, weights: Mapping[str, float], keep: np.ndarray | None) -> LexicalScores:
        """BM25 of every product for ``words``, and the best ``CANDIDATES`` under the filters (``keep``,
        None: no filters). Runs on a worker beside the query's embedding: numpy releases the GIL."""
        scores = lexical.score_array(words, weights)
        return LexicalScores(scores, best_positions(scores, CANDIDATES, keep))

    @staticmethod
    def add_lexical(candidates: dict[str, Candidate], lexical: LexicalScores, keep: np.ndarray, snapshot: Snapshot) -> None:
        """BM25's best matches under the filters join the candidates; other candidates get their score."""
        ids = snapshot.lexical.ids
        for i in lexical.best.tolist():
            candidate = candidates.get(ids[i])
            if candidate is None:
                candidate = candidates[ids[i]] = Candidate(position=i)
            candidate.matched.append("lexical")
        found = list(candidates.values())
        at = positions(found)
        for candidate, score in zip(found, np.where(keep[at], lexical.scores[at], 0.0).tolist()):
            if score > 0:
                candidate.bm25 = score

    @staticmethod
    def add_browse(candidates: dict[str, Candidate], keep: np.ndarray, order: np.ndarray, snapshot: Snapshot) -> None:
        """Only filters were asked for: the pool is the first products under them by ``order`` (smaller
        first), chosen by partial selection over the catalogue's columns (ties by product id)."""
        allowed = np.flatnonzero(keep)
        ids = snapshot.lexical.ids
        for i in allowed[top_k(-order[allowed], RESULT_POOL)].tolist():
            candidates.setdefault(ids[i], Candidate(matched=["filters"], position=i))

    @staticmethod
    def fill_missing_similarities(candidates: dict[str, Candidate], vector: np.ndarray | None, snapshot: Snapshot,
                                  kinds: tuple[Kind, ...] = KINDS) -> None:  # fmt: skip
        """Exact similarity to ``vector`` by each of ``kinds`` a candidate was not retrieved by, from the
        snapshot's vector table."""
        if vector is None:
            return
        for kind in kinds:
            lacking = [candidate for candidate in candidates.values() if kind not in candidate.similarity]
            if not lacking:
                continue
            for candidate, value in zip(lacking, _vectors(snapshot).similarities(positions(lacking), kind, vector).tolist()):
                if not math.isnan(value):
                    candidate.similarity[kind] = value


def positions(candidates: list[Candidate]) -> np.ndarray:
    return np.fromiter((candidate.position for candidate in candidates), dtype=np.int64, count=len(candidates))


def _vectors(snapshot: Snapshot) -> VectorTable:
    if snapshot.vectors is None:  # only a words-only snapshot has none, and it is never searched by vector
        raise RuntimeError(f"catalogue snapshot {snapshot.version} holds no vectors")
    return snapshot.vectors
