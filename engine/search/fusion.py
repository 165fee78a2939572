"""The arithmetic of a search: composing the query vector, fusing signals, explaining the score.

**Composed query vector.** With unit vectors for the photo ``p``, the words ``w`` (typed and spoken,
averaged) and the negative words ``n``:

    q = normalise((1 - a) * p + a * w - b * n)

``a`` (``text_weight``, the UI slider) is how far the words move the photo: 0 ignores them, 1 ignores
the photo. ``b`` = ``NEGATIVE_WEIGHT`` pushes the query away from what the shopper does not want.

**Fused score** of a product with image vector ``I``, text vector ``T`` and BM25 score ``s``:

    score = w_image * cos(q, I) + w_text * cos(q, T) + w_lexical * s / max_s - penalty

``(w_image, w_text)`` depend on the inputs (``WEIGHTS``); ``w_lexical`` = ``LEXICAL_WEIGHT`` when
there are words; ``s / max_s`` is BM25 relative to the best lexical match among the candidates;
``penalty`` = ``NEGATIVE_PENALTY`` when the product's own words contain a negative word. The four
terms are each hit's explanation, and they add up to its score.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.types import Kind

WEIGHTS: dict[str, tuple[float, float]] = {"words": (0.5, 0.5), "photo": (0.7, 0.3), "both": (0.6, 0.4)}
LEXICAL_WEIGHT = 0.4  # tuned on the development half of assets/eval/natural.jsonl (0.3 before)
NEGATIVE_WEIGHT = 0.5
NEGATIVE_PENALTY = 0.2


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else vector.astype(np.float32)


def compose(words: np.ndarray | None, photo: np.ndarray | None, negative: np.ndarray | None,
            text_weight: float) -> np.ndarray:  # fmt: skip
    """The query vector (see the module docstring); inputs are unit vectors or ``None``."""
    if words is not None and photo is not None:
        query = (1.0 - text_weight) * photo + text_weight * words
    else:
        query = words if words is not None else photo
    if query is None:
        raise ValueError("a query needs words or a photo")
    if negative is not None:
        query = query - NEGATIVE_WEIGHT * negative
    return unit(query)


@dataclass(slots=True)
class Candidate:
    similarity: dict[Kind, float] = field(default_factory=dict)
    matched: list[str] = field(default_factory=list)  # which lists found it: image, text, lexical
    bm25: float = 0.0
    negative: bool = False
    position: int = field(kw_only=True)  # the product's place in the snapshot's arrays, looked up once when found


def fuse(candidates: dict[str, Candidate], weights: tuple[float, float], lexical_weight: float,
         use_vectors: bool = True, limit: int | None = None) -> list[tuple[float, str, dict[str, float]]]:  # fmt: skip
    """(score, product id, breakdown) best first, the first ``limit`` (all when None); the breakdown's
    values add up to the score. Only the kept get a breakdown: at 100k products a search fuses about
    300 candidates and keeps 100."""
    best_bm25 = max((c.bm25 for c in candidates.values()), default=0.0)
    ranked = []
    for pid, candidate in candidates.items():
        terms = _terms(candidate, weights, lexical_weight, best_bm25, use_vectors)
        ranked.append((terms[0] + terms[1] + terms[2] + terms[3], pid, terms))
    ranked.sort(key=lambda item: -item[0])  # stable: ties keep the order candidates were found in
    return [(score, pid, dict(zip(TERMS, terms))) for score, pid, terms in ranked[:limit]]


TERMS = ("image", "text", "lexical", "negative")


def _terms(candidate: Candidate, weights: tuple[float, float], lexical_weight: float, best_bm25: float,
           use_vectors: bool) -> tuple[float, float, float, float]:  # fmt: skip
    """The four terms of a candidate's score, in :data:`TERMS` order."""
    similarity = candidate.similarity
    return (
        weights[0] * similarity.get("image", 0.0) if use_vectors else 0.0,
        weights[1] * similarity.get("text", 0.0) if use_vectors else 0.0,
        lexical_weight * candidate.bm25 / best_bm25 if best_bm25 > 0 else 0.0,
        -NEGATIVE_PENALTY if candidate.negative else 0.0,
    )
