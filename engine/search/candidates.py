"""A search's candidates: nearest products by vector, BM25's best, or the best under filters alone.

Each list holds at most ``CANDIDATES`` products, however many hits are shown, so "show more" pages
through one fixed ranking. The shopper's filters are applied to the vector candidates here, to the
snapshot's columns, rather than inside Chroma (see :meth:`CandidateGatherer.nearest`). A candidate
found by one list gets the similarities it lacks from its stored vectors, kept per catalogue version.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from engine.catalogue.store import ProductStore, VectorMatch
from engine.lru import LRU
from engine.search.fusion import Candidate
from engine.search.lexical import top_k
from engine.search.snapshot import Snapshot
from engine.types import KINDS, MAX_RESULTS, Kind

RESULT_POOL = MAX_RESULTS
# Candidates per list (image vectors, text vectors, BM25). Independent of how many hits are shown, so
# "show more" pages through one fixed ranking.
CANDIDATES = RESULT_POOL
# Filters on the vector candidates (see CandidateGatherer.nearest): the unfiltered neighbours are read
# OVERFETCH times as deep as the allowed share needs, if that is at most FETCH_LIMIT deep; else up to
# EXACT_LIMIT allowed products are compared exactly. Chroma's cost per result read, per vector fetched
# and per filtered search decided these (bench/scale.py).
EXACT_LIMIT = 500
OVERFETCH = 1.2
FETCH_LIMIT = 1000
# Product vectors read from the store to complete a candidate's similarities, kept per catalogue version:
# 8,192 (product, kind) vectors, about 17 MB at dim 512. A small catalogue fits whole; a large one keeps
# the products searches keep finding. Every other vector stays in the store.
PRODUCT_VECTOR_CACHE = 8192


class CandidateGatherer:
    """Gathers the candidates of one search from the vector store, from BM25 or from the filters."""

    def __init__(self, store: ProductStore, workers: ThreadPoolExecutor) -> None:
        self.store = store
        self._workers = workers  # the engine's, shared and bounded
        self._product_vectors: LRU[tuple[int, str, Kind], np.ndarray] = LRU(PRODUCT_VECTOR_CACHE)

    def by_vector(self, vector: np.ndarray, keep: np.ndarray | None, snapshot: Snapshot) -> dict[str, Candidate]:
        """Nearest products by image vector and by text vector: two store queries, side by side."""
        candidates: dict[str, Candidate] = {}
        found = self._workers.map(lambda kind: (kind, self.nearest(vector, kind, keep, snapshot)), KINDS)
        for kind, matches in found:
            for match in matches:
                candidate = candidates.setdefault(match.product_id, Candidate())
                candidate.similarity[kind] = match.similarity
                candidate.matched.append(kind)
        return candidates

    def nearest(self, vector: np.ndarray, kind: Kind, keep: np.ndarray | None, snapshot: Snapshot) -> list[VectorMatch]:
        """The ``CANDIDATES`` nearest products by their ``kind`` vector among those ``keep`` allows (None: all).

        A filter inside Chroma costs time in proportion to the records it matches, so the filters are
        applied here, to the snapshot's columns. The unfiltered neighbours are read deep enough that
        about ``CANDIDATES`` of them should pass (those that do are exactly the best allowed ones),
        when that depth is affordable. Otherwise, or when too few passed, a few allowed products are
        compared exactly (their vectors fetched), and more are searched by Chroma among themselves.
        """
        if keep is None:
            return self.store.query(vector, kind, CANDIDATES)
        allowed = np.flatnonzero(keep)
        if not len(allowed):
            return []
        depth = min(math.ceil(CANDIDATES * len(keep) / len(allowed) * OVERFETCH), len(keep))
        if depth <= FETCH_LIMIT:
            position = snapshot.lexical.position
            passed = [m for m in self.store.query(vector, kind, depth)
                      if (i := position.get(m.product_id)) is not None and keep[i]]  # fmt: skip
            if len(passed) >= CANDIDATES or depth >= len(keep):
                return passed[:CANDIDATES]
        ids = snapshot.lexical.ids
        if len(allowed) <= EXACT_LIMIT:
            return self._exact(vector, kind, [ids[i] for i in allowed])
        return self.store.query(vector, kind, CANDIDATES, among=[ids[i] for i in allowed])

    def _exact(self, vector: np.ndarray, kind: Kind, product_ids: list[str]) -> list[VectorMatch]:
        """The best ``CANDIDATES`` of a few products by exact cosine similarity (ties by product id)."""
        stored = self.store.vectors(product_ids, kind)
        if not stored:
            return []
        ordered = sorted(stored)
        similarity = np.stack([stored[pid] for pid in ordered]) @ vector
        return [VectorMatch(ordered[i], float(similarity[i])) for i in top_k(similarity, CANDIDATES)]

    @staticmethod
    def add_lexical(candidates: dict[str, Candidate], bm25: np.ndarray, keep: np.ndarray, snapshot: Snapshot) -> None:
        """BM25's best matches under the filters join the candidates; other candidates get their score."""
        eligible = np.flatnonzero((bm25 > 0) & keep)
        ids = snapshot.lexical.ids
        for i in eligible[top_k(bm25[eligible], CANDIDATES)]:
            candidates.setdefault(ids[i], Candidate()).matched.append("lexical")
        position = snapshot.lexical.position
        for pid, candidate in candidates.items():
            i = position.get(pid)
            if i is not None and bm25[i] > 0 and keep[i]:
                candidate.bm25 = float(bm25[i])

    @staticmethod
    def add_browse(candidates: dict[str, Candidate], keep: np.ndarray, order: np.ndarray, snapshot: Snapshot) -> None:
        """Only filters were asked for: the pool is the first products under them by ``order`` (smaller
        first), chosen by partial selection over the catalogue's columns (ties by product id)."""
        allowed = np.flatnonzero(keep)
        ids = snapshot.lexical.ids
        for i in allowed[top_k(-order[allowed], RESULT_POOL)]:
            candidates.setdefault(ids[i], Candidate(matched=["filters"]))

    def fill_missing_similarities(self, candidates: dict[str, Candidate], vector: np.ndarray | None,
                                  snapshot: Snapshot) -> None:  # fmt: skip
        """Exact similarity for the vector kind a candidate was not retrieved by (vectors cached per version)."""
        if vector is None:
            return
        missing = [(pid, kind) for pid, candidate in candidates.items() for kind in KINDS if kind not in candidate.similarity]
        found = {record: cached for record in missing
                 if (cached := self._product_vectors.get((snapshot.version, *record))) is not None}  # fmt: skip
        read = self.store.record_vectors([record for record in missing if record not in found])
        for record, stored in read.items():
            self._product_vectors.put((snapshot.version, *record), stored)
        for (pid, kind), stored in (found | read).items():
            candidates[pid].similarity[kind] = float(stored @ vector)
