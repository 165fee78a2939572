"""Every product's two vectors, in the snapshot's order, read once per catalogue version.

A search finds its candidates in Chroma, then needs the similarity of each candidate by the vector
kind it was not found by, and a filtered search may compare a few thousand allowed products
exactly. Asking Chroma for those vectors costs about 4 ms per 100 with Python's lock held (measured
at 100k products, ``bench/scale.py``), which was half of a text search. A :class:`VectorTable` holds
them as two float32 matrices whose rows follow the snapshot's products (sorted by id), so those
reads become row lookups. It is saved per catalogue version, beside the BM25 index, and
memory-mapped on a restart, so only the rows searches touch are paged in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from engine.types import KINDS, Kind

FORMAT = 1
READ_PAGE = 5000  # products per read from the store
CHUNK = 4096  # rows gathered at a time when comparing many products (8 MB at dim 512)


class VectorTable:
    """The image and text vectors of the products ``ids``; row ``i`` belongs to ``ids[i]``.

    A product the store holds no vector of (a half-written record) has an ``absent`` row, treated as
    unknown, as a store read that found nothing would be.
    """

    def __init__(self, ids: Sequence[str], rows: dict[Kind, np.ndarray], absent: dict[Kind, np.ndarray]) -> None:
        self.ids = list(ids)
        self._rows = rows
        self._absent = absent

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self._rows[KINDS[0]].shape[1])

    @classmethod
    def read(cls, ids: Sequence[str], dim: int,
             read: Callable[[list[tuple[str, Kind]]], dict[tuple[str, Kind], np.ndarray]],
             reuse: tuple[VectorTable, Callable[[str], bool]] | None = None) -> VectorTable:  # fmt: skip
        """The vectors of ``ids`` from the store's ``read`` (``ProductStore.record_vectors``), page by page.

        ``reuse`` is an earlier table and which products it may give: their rows are copied, and
        only the other products are read.
        """
        rows = {kind: np.zeros((len(ids), dim), dtype=np.float32) for kind in KINDS}
        absent = {kind: np.ones(len(ids), dtype=bool) for kind in KINDS}
        wanted = list(range(len(ids)))
        if reuse is not None:
            earlier, unchanged = reuse
            position = {pid: i for i, pid in enumerate(earlier.ids)}
            copied = [(i, position[pid]) for i, pid in enumerate(ids) if pid in position and unchanged(pid)]
            if copied:
                to, source = map(np.array, zip(*copied))
                for kind in KINDS:
                    rows[kind][to] = earlier._rows[kind][source]
                    absent[kind][to] = earlier._absent[kind][source]
                done = set(to.tolist())
                wanted = [i for i in wanted if i not in done]
        cls._fill(rows, absent, [ids[i] for i in wanted], wanted, read)
        return cls(ids, rows, absent)

    @staticmethod
    def _fill(rows: dict[Kind, np.ndarray], absent: dict[Kind, np.ndarray], ids: list[str], positions: list[int],
              read: Callable[[list[tuple[str, Kind]]], dict[tuple[str, Kind], np.ndarray]]) -> None:  # fmt: skip
        for start in range(0, len(ids), READ_PAGE):
            page = ids[start : start + READ_PAGE]
            found = read([(pid, kind) for pid in page for kind in KINDS])
            for offset, pid in enumerate(page):
                for kind in KINDS:
                    vector = found.get((pid, kind))
                    if vector is not None:
                        rows[kind][positions[start + offset]] = vector
                        absent[kind][positions[start + offset]] = False

    def held(self, kind: Kind) -> int:
        """How many products have a ``kind`` vector."""
        return int(len(self.ids) - self._absent[kind].sum())

    def similarities(self, positions: np.ndarray, kind: Kind, vector: np.ndarray) -> np.ndarray:
        """Cosine similarity of ``vector`` to the ``kind`` vectors at ``positions`` (NaN where absent)."""
        positions = np.asarray(positions, dtype=np.int64)
        vector = np.asarray(vector, dtype=np.float32)
        rows = self._rows[kind]
        similarity = np.concatenate([rows[positions[start : start + CHUNK]] @ vector
                                     for start in range(0, len(positions), CHUNK)] or [np.zeros(0, np.float32)])  # fmt: skip
        return np.where(self._absent[kind][positions], np.nan, similarity)

    def vector(self, position: int, kind: Kind) -> np.ndarray | None:
        """One product's ``kind`` vector, or None when the store held none."""
        return None if self._absent[kind][position] else np.array(self._rows[kind][position])

    # --- on disk, beside the BM25 index of the same catalogue version ----------------------------------
    def save(self, folder: Path) -> None:
        """Write the rows, the absent rows and the ids into ``folder`` (a fresh one, renamed into place after)."""
        folder.mkdir(parents=True, exist_ok=True)
        for kind in KINDS:
            np.save(folder / f"vectors-{kind}.npy", self._rows[kind])
        np.save(folder / "absent.npy", np.stack([self._absent[kind] for kind in KINDS]))
        np.save(folder / "ids.npy", np.array(self.ids, dtype=str))
        (folder / "format").write_text(str(FORMAT))

    @classmethod
    def load(cls, folder: Path, ids: Sequence[str], dim: int) -> VectorTable | None:
        """The table saved in ``folder``, memory-mapped, if it holds exactly ``ids`` at width ``dim``; else None."""
        try:
            if (folder / "format").read_text() != str(FORMAT) or np.load(folder / "ids.npy").tolist() != list(ids):
                return None
            rows = {kind: np.load(folder / f"vectors-{kind}.npy", mmap_mode="r") for kind in KINDS}
            absent = np.load(folder / "absent.npy")
        except Exception:  # missing, cut short (EOFError) or not numpy's format: read again from the store
            return None
        if absent.shape != (len(KINDS), len(ids)) or any(r.shape != (len(ids), dim) or r.dtype != np.float32 for r in rows.values()):
            return None
        return cls(ids, rows, {kind: absent[i] for i, kind in enumerate(KINDS)})
