"""recall@10 of Chroma's HNSW against an exact scan, for ``bench/scale.py``.

For 100 queries (half photo-like on the image vectors, half text-like on the text vectors), the exact
10 nearest products come from a numpy scan over the synthetic catalogue's vectors (regenerated in
blocks, so a million products fit), and Chroma is asked at each ``ef_search`` of ``EF_VALUES`` for 10
and for the engine's 100.
"""

from __future__ import annotations

import numpy as np

from bench.scale_shop import Shop, words
from engine.catalogue.store import ProductStore

EF_VALUES = (10, 20, 40, 80, 100, 200, 400)
RECALL_QUERIES = 100


def recall(store: ProductStore, shop: Shop) -> dict[str, dict[str, float]]:
    """recall@10 of Chroma against an exact scan, per ef_search: asking for 10, and for the engine's 100."""
    rng = np.random.default_rng(3)
    shipped = store.hnsw.get("ef_search")  # put back after the sweep (None: the collection states none)
    found: dict[str, dict[str, float]] = {}
    exact: dict[str, list[list[str]]] = {}
    queries = {"image": [shop.photo_vector(rng) for _ in range(RECALL_QUERIES // 2)],
               "text": [shop.text_vector(words(rng)) for _ in range(RECALL_QUERIES // 2)]}  # fmt: skip
    for kind, vectors in queries.items():
        exact[kind] = exact_top10(shop, kind, np.stack(vectors))
    for ef in EF_VALUES:
        store.set_ef_search(ef)
        for depth in (10, 100):
            hits = [len({m.product_id for m in store.query(v, kind, depth)[:10]} & set(truth))
                    for kind, vectors in queries.items() for v, truth in zip(vectors, exact[kind])]  # fmt: skip
            found.setdefault(str(ef), {})[str(depth)] = sum(hits) / (10 * len(hits))
    if shipped is not None:
        store.set_ef_search(shipped)
    return found


def exact_top10(shop: Shop, kind: str, queries: np.ndarray) -> list[list[str]]:
    """The exact 10 nearest products by ``kind`` vector, scanning the catalogue in blocks (vectors regenerated)."""
    best_score = np.full((len(queries), 0), -np.inf, np.float32)
    best_ids = np.zeros((len(queries), 0), np.int64)
    for start in range(0, shop.size, 20_000):
        products = shop.products(start, min(shop.size, start + 20_000))
        scores = queries @ shop.vectors(products, kind).T
        best_score = np.concatenate([best_score, scores], axis=1)
        best_ids = np.concatenate([best_ids, np.broadcast_to(np.arange(start, start + len(products)), scores.shape)], axis=1)
        keep = np.argsort(-best_score, axis=1, kind="stable")[:, :10]
        best_score, best_ids = np.take_along_axis(best_score, keep, 1), np.take_along_axis(best_ids, keep, 1)
    return [[f"p{i:07d}" for i in row] for row in best_ids]
