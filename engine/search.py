"""One search entry point for text, photo and voice, alone or together.

Every input becomes a unit vector in the CLIP space (voice through Whisper first); several inputs are
averaged into one query vector. Each product has an image vector and a text vector, and its score is
a weighted sum of the query's cosine similarity to both:

    score = w_image * cos(q, product_image) + w_text * cos(q, product_text)

The weights depend on what was asked (see ``WEIGHTS``): a photo leans on product images, words on
both. Candidates come from a nearest-neighbour query on each vector kind (with the filters applied
inside Chroma); the side a candidate was not retrieved by is filled in exactly from its stored vector.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.catalogue import Product
from engine.embedding import ClipEmbedder
from engine.errors import InvalidInputError
from engine.images import load_image
from engine.settings import Settings
from engine.speech import SpeechRecognizer, Transcript
from engine.store import KINDS, Kind, ProductStore

log = logging.getLogger(__name__)

# (w_image, w_text) by the query's inputs: a photo looks mostly at product photos.
WEIGHTS: dict[str, tuple[float, float]] = {"words": (0.5, 0.5), "photo": (0.7, 0.3), "both": (0.6, 0.4)}
CANDIDATE_FACTOR = 4
MIN_CANDIDATES = 40


class Filters(BaseModel):
    """Hard constraints applied inside the vector store."""

    model_config = ConfigDict(frozen=True)

    categories: tuple[str, ...] = ()
    price_min: float | None = Field(None, ge=0)
    price_max: float | None = Field(None, ge=0)
    rating_min: float | None = Field(None, ge=0, le=5)

    @field_validator("categories", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        return tuple(sorted({str(c).strip().lower() for c in value if str(c).strip()}))

    @model_validator(mode="after")
    def _ordered(self) -> "Filters":
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError("the lowest price is above the highest price")
        return self

    def where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if self.categories:
            clauses.append({"category": {"$in": list(self.categories)}})
        if self.price_min is not None:
            clauses.append({"price": {"$gte": float(self.price_min)}})
        if self.price_max is not None:
            clauses.append({"price": {"$lte": float(self.price_max)}})
        if self.rating_min is not None:
            clauses.append({"rating": {"$gte": float(self.rating_min)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def make_filters(**values: Any) -> Filters:
    """:class:`Filters` from loose UI/API values, with a readable error instead of a validation dump."""
    try:
        return Filters(**values)
    except ValidationError as error:
        reasons = "; ".join(issue["msg"].removeprefix("Value error, ") for issue in error.errors())
        raise InvalidInputError(f"Please check the filters: {reasons}.") from error


class Query(BaseModel):
    """What the shopper asked: any of text, a photo, a voice clip; plus filters and how many hits."""

    model_config = ConfigDict(frozen=True)

    text: str = ""
    image: Path | None = None
    audio: Path | None = None
    filters: Filters = Filters()
    k: int | None = Field(None, ge=1, le=100)


@dataclass(frozen=True)
class Hit:
    product: Product
    score: float
    similarity: dict[Kind, float]  # cosine similarity of the query to each product vector
    matched: tuple[Kind, ...]  # vector kinds whose nearest-neighbour list found this product


@dataclass
class SearchResult:
    hits: list[Hit]
    transcript: Transcript | None = None
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds: speech, embedding, vector_search, rest


class SearchEngine:
    def __init__(self, settings: Settings, embedder: ClipEmbedder, store: ProductStore, speech: SpeechRecognizer) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.speech = speech

    def search(self, query: Query) -> SearchResult:
        started = time.perf_counter()
        result = SearchResult(hits=[])
        timings = result.timings
        texts = self._typed_text(query.text, result.notices)
        if query.audio is not None:
            clock = time.perf_counter()
            result.transcript = self.speech.transcribe(query.audio)
            timings["speech"] = time.perf_counter() - clock
            texts.append(result.transcript.text)
            if result.transcript.trimmed:
                result.notices.append(f"Only the first {self.settings.max_audio_seconds:g} s of the recording were used.")
        image = None
        if query.image is not None:
            image = load_image(query.image, max_bytes=self.settings.max_image_bytes, max_pixels=self.settings.max_image_pixels)
        if not texts and image is None:
            raise InvalidInputError("Type something, add a photo or record your voice to search.")
        clock = time.perf_counter()
        vectors = [self.embedder.embed_texts(texts)] if texts else []
        if image is not None:
            vectors.append(self.embedder.embed_images([image]))
        query_vector = _unit(np.concatenate(vectors).mean(axis=0))
        timings["embedding"] = time.perf_counter() - clock
        mode = "both" if texts and image is not None else ("photo" if image is not None else "words")
        clock = time.perf_counter()
        result.hits = self._rank(query_vector, WEIGHTS[mode], query.filters, query.k or self.settings.top_k)
        timings["vector_search"] = time.perf_counter() - clock
        if not result.hits:
            result.notices.append("No products match these filters." if query.filters.where() else "The catalogue is empty.")
        timings["rest"] = max(0.0, time.perf_counter() - started - sum(timings.values()))
        log.info("search %s%s%s filters=%s -> %d hits in %.0f ms", "text " if query.text.strip() else "",
                 "photo " if image is not None else "", "voice " if query.audio else "", query.filters.where(),
                 len(result.hits), 1000 * (time.perf_counter() - started))  # fmt: skip
        return result

    def similar(self, product_id: str, k: int | None = None) -> list[Hit]:
        """Products closest to one product by its own image and text vectors (itself excluded)."""
        own = {kind: self.store.vectors([product_id], kind).get(product_id) for kind in KINDS}
        if any(vector is None for vector in own.values()):
            raise InvalidInputError("That product is no longer in the catalogue.")
        k = k or self.settings.top_k
        candidates = self._candidates(own, k + 1)
        candidates.pop(product_id, None)
        return self._hits(candidates, (0.5, 0.5), k)

    def _typed_text(self, text: str, notices: list[str]) -> list[str]:
        text = " ".join((text or "").split())
        if len(text) > self.settings.max_query_chars:
            text = text[: self.settings.max_query_chars].rsplit(" ", 1)[0] or text[: self.settings.max_query_chars]
            notices.append(f"Your query was long, so only its first {self.settings.max_query_chars} characters were used.")
        return [text] if text else []

    def _rank(self, query_vector: np.ndarray, weights: tuple[float, float], filters: Filters, k: int) -> list[Hit]:
        n = max(k * CANDIDATE_FACTOR, MIN_CANDIDATES)
        return self._hits(self._candidates({kind: query_vector for kind in KINDS}, n, filters.where()), weights, k)

    def _candidates(self, query: dict[Kind, np.ndarray], n: int, where: dict[str, Any] | None = None) -> dict[str, _Candidate]:
        """Nearest neighbours by each vector kind; the kind a candidate was not found by is computed exactly."""
        candidates: dict[str, _Candidate] = {}
        for kind in KINDS:
            for match in self.store.query(query[kind], kind, n, where):
                candidate = candidates.setdefault(match.product_id, _Candidate())
                candidate.similarity[kind] = match.similarity
                candidate.matched.append(kind)
        for kind in KINDS:
            missing = [pid for pid, candidate in candidates.items() if kind not in candidate.similarity]
            for pid, vector in self.store.vectors(missing, kind).items():
                candidates[pid].similarity[kind] = float(vector @ query[kind])
        return candidates

    def _hits(self, candidates: dict[str, _Candidate], weights: tuple[float, float], k: int) -> list[Hit]:
        scored = sorted(
            ((weights[0] * c.similarity.get("image", 0.0) + weights[1] * c.similarity.get("text", 0.0), pid)
             for pid, c in candidates.items()),
            key=lambda item: (-item[0], item[1]),
        )[:k]  # fmt: skip
        products = self.store.products([pid for _, pid in scored])
        return [
            Hit(products[pid], float(score), dict(candidates[pid].similarity), tuple(candidates[pid].matched))
            for score, pid in scored
            if pid in products
        ]


@dataclass
class _Candidate:
    similarity: dict[Kind, float] = field(default_factory=dict)
    matched: list[Kind] = field(default_factory=list)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else vector.astype(np.float32)
