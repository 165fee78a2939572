"""Light types shared by the engine, the UI and the API: what was asked and what was found.

Nothing here imports torch, Chroma or Gradio, so a caller can build a :class:`Query` and read a
:class:`Hit` without loading a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.catalogue.products import Product
from engine.errors import InvalidInputError
from engine.search.understand import Understood

Kind = Literal["image", "text"]  # the two CLIP vectors every product has
KINDS: tuple[Kind, ...] = ("image", "text")


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    seconds: float  # audio used for recognition
    trimmed: bool  # the clip was longer than the limit and only its start was used


class Filters(BaseModel):
    """Hard constraints: applied inside the vector store and to lexical candidates alike."""

    model_config = ConfigDict(frozen=True)

    categories: tuple[str, ...] = ()
    colours: tuple[str, ...] = ()
    price_min: float | None = Field(None, ge=0)
    price_max: float | None = Field(None, ge=0)
    rating_min: float | None = Field(None, ge=0, le=5)

    @field_validator("categories", "colours", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        return tuple(sorted({str(c).strip().lower() for c in value if str(c).strip()}))

    @model_validator(mode="after")
    def _ordered(self) -> Filters:
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError("the lowest price is above the highest price")
        return self

    def where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if self.categories:
            clauses.append({"category": {"$in": list(self.categories)}})
        if self.colours:
            clauses.append({"colour": {"$in": list(self.colours)}})
        if self.price_min is not None:
            clauses.append({"price": {"$gte": float(self.price_min)}})
        if self.price_max is not None:
            clauses.append({"price": {"$lte": float(self.price_max)}})
        if self.rating_min is not None:
            clauses.append({"rating": {"$gte": float(self.rating_min)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, product: Product) -> bool:
        """The same test as :meth:`where`, for products outside the vector store."""
        return (
            (not self.categories or product.category in self.categories)
            and (not self.colours or product.colour in self.colours)
            and (self.price_min is None or product.price >= self.price_min)
            and (self.price_max is None or product.price <= self.price_max)
            and (self.rating_min is None or (product.rating if product.rating is not None else -1) >= self.rating_min)
        )

    def with_understood(self, understood: Understood) -> Filters:
        """Filters the shopper set, completed by those read from the words (set ones win)."""
        return make_filters(
            categories=self.categories or understood.categories, colours=self.colours or understood.colours,
            price_min=self.price_min if self.price_min is not None else understood.price_min,
            price_max=self.price_max if self.price_max is not None else understood.price_max,
            rating_min=self.rating_min,
        )  # fmt: skip


def make_filters(**values: Any) -> Filters:
    """:class:`Filters` from loose UI/API values, with a readable error instead of a validation dump."""
    try:
        return Filters(**values)
    except ValidationError as error:
        reasons = "; ".join(issue["msg"].removeprefix("Value error, ") for issue in error.errors())
        raise InvalidInputError(f"Please check the filters: {reasons}.") from error


class Query(BaseModel):
    """What the shopper asked: words, a photo, a voice clip, words to avoid; filters and options."""

    model_config = ConfigDict(frozen=True)

    text: str = ""
    image: Path | None = None
    audio: Path | None = None
    negative: str = ""  # words the results should not be about ("leather")
    text_weight: float = Field(0.5, ge=0, le=1)  # how far the words move the photo
    filters: Filters = Filters()
    k: int | None = Field(None, ge=1, le=100)
    mode: Literal["hybrid", "vector", "lexical"] = "hybrid"
    understand: bool = True  # read price, colour, category and "not ..." from the words
    translate_speech: bool = False  # Whisper's translate task: speech in any language -> English
    speech_language: str | None = None  # e.g. "zh"; None lets Whisper detect it


@dataclass(frozen=True)
class Hit:
    product: Product
    score: float
    similarity: dict[Kind, float]  # cosine similarity of the query to each product vector
    matched: tuple[str, ...]  # which candidate lists found it: image, text, lexical
    breakdown: dict[str, float] = field(default_factory=dict)  # image + text + lexical + negative = score
    matched_words: tuple[str, ...] = ()  # query words found in the product's text


@dataclass
class SearchResult:
    hits: list[Hit]
    transcript: Transcript | None = None
    understood: Understood | None = None
    filters: Filters = Filters()  # what was applied: the shopper's and the understood ones
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    total: int = 0  # size of the ranked result set the facets count
    pool: list[Hit] = field(default_factory=list)  # that ranked set; hits are its first k
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds: speech, embedding, vector_search, lexical, rest
