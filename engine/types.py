"""Light types shared by the engine, the UI and the API: what was asked and what was found.

Nothing here imports torch, Chroma or Gradio, so a caller can build a :class:`Query` and read a
:class:`Page` without loading a model.

Two kinds of filters meet in a search, and they are kept apart on purpose:

- the shopper's own :class:`Filters` (the sidebar controls, or an API caller's arguments), which
  change only when the shopper changes them;
- the filters read from the words of this query (``Understood``), shown as removable chips. They
  belong to the query: the next query starts from the shopper's own filters alone.

Both apply together (:class:`Constraints`); a chip the shopper removes is listed in
``Query.dropped``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.catalogue.products import Product
from engine.errors import InvalidInputError
from engine.search.spelling import Correction
from engine.search.synonyms import Expansion
from engine.search.understand import Understood

Kind = Literal["image", "text"]  # the two CLIP vectors every product has
KINDS: tuple[Kind, ...] = ("image", "text")
Sort = Literal["relevance", "price_asc", "price_desc", "rating", "reviews"]
SORTS: tuple[Sort, ...] = ("relevance", "price_asc", "price_desc", "rating", "reviews")
Mode = Literal["hybrid", "vector", "lexical"]  # how the words are read: both ways, by meaning only, as words only
MODES: tuple[Mode, ...] = ("hybrid", "vector", "lexical")
MAX_RESULTS = 100  # the ranked pool a search returns; "show more" pages through it


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
    review_min: float | None = Field(None, ge=0, le=5)  # mean stars of the product's reviews

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

    @classmethod
    def from_understood(cls, understood: Understood | None) -> Filters:
        if understood is None:
            return cls()
        low, high = understood.price_min, understood.price_max
        if low is not None and high is not None and low > high:
            low, high = high, low
        return cls(categories=understood.categories, colours=understood.colours, price_min=low, price_max=high)

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

    @property
    def is_empty(self) -> bool:
        return self.where() is None and self.review_min is None

    def without(self, dimension: str) -> Filters:
        """These filters with one dimension cleared: ``categories``, ``colours``, ``price`` or ``rating``
        (the rating dimension covers both the catalogue's rating and the reviews' stars)."""
        cleared = {"price": {"price_min": None, "price_max": None}, "rating": {"rating_min": None, "review_min": None}}
        return self.model_copy(update=cleared.get(dimension, {dimension: ()}))


def make_filters(**values: Any) -> Filters:
    """:class:`Filters` from loose UI/API values, with a readable error instead of a validation dump."""
    try:
        return Filters(**values)
    except ValidationError as error:
        reasons = "; ".join(issue["msg"].removeprefix("Value error, ") for issue in error.errors())
        raise InvalidInputError(f"Please check the filters: {reasons}.") from error


@dataclass(frozen=True)
class Constraints:
    """Every filter a search must meet: the shopper's own and those read from the words, all at once."""

    own: Filters = Filters()
    words: Filters = Filters()

    @property
    def is_empty(self) -> bool:
        return self.own.is_empty and self.words.is_empty

    @property
    def price_min(self) -> float | None:
        bounds = [b for b in (self.own.price_min, self.words.price_min) if b is not None]
        return max(bounds) if bounds else None

    @property
    def price_max(self) -> float | None:
        bounds = [b for b in (self.own.price_max, self.words.price_max) if b is not None]
        return min(bounds) if bounds else None

    def where(self) -> dict[str, Any] | None:
        clauses = [clause for clause in (self.own.where(), self.words.where()) if clause]
        flat = [part for clause in clauses for part in (clause["$and"] if set(clause) == {"$and"} else [clause])]
        if not flat:
            return None
        return flat[0] if len(flat) == 1 else {"$and": flat}



class Query(BaseModel):
    """What the shopper asked: words, a photo, a voice clip, words to avoid; filters and options."""

    model_config = ConfigDict(frozen=True)

    text: str = ""
    image: Path | None = None
    audio: Path | None = None
    negative: str = ""  # the shopper's own words to avoid ("leather"), besides any "not ..." in the text
    text_weight: float = Field(0.5, ge=0, le=1)  # how far the words move the photo
    filters: Filters = Filters()  # the shopper's own filters
    dropped: tuple[str, ...] = ()  # chips read from the words that the shopper removed ("colour:red")
    sort: Sort = "relevance"
    k: int | None = Field(None, ge=1, le=MAX_RESULTS)  # how many hits to return (the ranked pool is larger)
    mode: Mode = "hybrid"
    understand: bool = True  # read price, colour, category and "not ..." from the words
    spelling: Literal["auto", "eager", "off"] = "auto"  # fix typed words; "eager" also corrects common English
    synonyms: bool = True  # search the catalogue's synonyms of the words too
    translate_speech: bool = False  # Whisper's translate task: speech in any language -> English
    speech_language: str | None = None  # e.g. "zh"; None lets Whisper detect it

    @property
    def is_empty(self) -> bool:
        """No words, photo or voice: only filters (or nothing), so the catalogue is browsed."""
        return not self.text.strip() and self.image is None and self.audio is None

    def without_chip(self, key: str) -> Query:
        """This query with one removable chip of its page taken off.

        A chip read from the words (:attr:`Page.chips`, e.g. ``colour:red``) joins :attr:`dropped`; one
        of the shopper's own filters (:attr:`Page.filter_chips`: ``filter:category:toys``,
        ``filter:colour:red``, ``filter:price``, ``filter:rating``, ``filter:reviews``, ``filter:not``)
        is cleared. An unknown ``filter:`` key changes nothing.
        """
        if not key.startswith(OWN_CHIP):
            return self if key in self.dropped else self.model_copy(update={"dropped": (*self.dropped, key)})
        kind, _, value = key.removeprefix(OWN_CHIP).partition(":")
        if kind == "not":
            return self.model_copy(update={"negative": ""})
        own = self.filters
        cleared: dict[str, Any] = {
            "category": {"categories": tuple(c for c in own.categories if c != value)},
            "colour": {"colours": tuple(c for c in own.colours if c != value)},
            "price": {"price_min": None, "price_max": None},
            "rating": {"rating_min": None},
            "reviews": {"review_min": None},
        }.get(kind, {})  # fmt: skip
        return self.model_copy(update={"filters": own.model_copy(update=cleared)}) if cleared else self


@dataclass(frozen=True)
class Hit:
    product: Product
    score: float
    similarity: dict[Kind, float]  # cosine similarity of the query to each product vector
    matched: tuple[str, ...]  # which candidate lists found it: image, text, lexical
    breakdown: dict[str, float] = field(default_factory=dict)  # image + text + lexical + negative = score
    matched_words: tuple[str, ...] = ()  # query words found in the product's text
    synonyms: tuple[str, ...] = ()  # "tee → t-shirt (synonyms.txt line 21)" for synonyms found in the product's text


@dataclass
class SearchResult:
    """What the search stages found; :class:`Page` is what a shopper is shown of it."""

    hits: list[Hit]
    transcript: Transcript | None = None
    understood: Understood | None = None
    filters: Constraints = Constraints()  # what was applied: the shopper's and the understood ones
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    total: int = 0  # size of the ranked result set the facets count
    pool: list[Hit] = field(default_factory=list)  # that ranked set; hits are its first k
    words: str = ""  # the words searched, after filters were read out of them
    corrections: list[Correction] = field(default_factory=list)  # typed words the spelling fixed
    corrected: str | None = None  # the typed text as corrected ("Showing results for ..."), if it changed
    expansions: list[Expansion] = field(default_factory=list)  # synonyms that were searched too
    browsed: bool = False  # no words or photo: the catalogue was browsed under the filters
    matching: int | None = None  # how many products meet the filters (the pool is the best of them)
    version: int = 0  # the catalogue snapshot every hit came from
    notices: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # engine.i18n text keys, with values
    timings: dict[str, float] = field(default_factory=dict)  # seconds: speech, embedding, vector_search, lexical (overlaps embedding), ranking, rest


# --- what a page shows ------------------------------------------------------------------------------
OWN_CHIP = "filter:"  # the key prefix of a chip for one of the shopper's own filters (Page.filter_chips)


@dataclass(frozen=True)
class Chip:
    """A filter shown with a remove button; ``Query.without_chip(key)`` is the search without it."""

    key: str
    label: str


@dataclass(frozen=True)
class FacetValue:
    value: str  # what the filter takes ("toys", "red", "25-50", "4")
    label: str
    count: int  # products of the current result set with this value (0: none here, still selectable)
    selected: bool


@dataclass(frozen=True)
class Facet:
    name: Literal["category", "colour", "price", "rating"]
    label: str
    values: tuple[FacetValue, ...]


@dataclass(frozen=True)
class Relaxation:
    """A way out of "no results": drop one filter. ``query`` is the search to run instead."""

    key: str
    label: str
    count: int
    query: Query


@dataclass
class Page:
    """Everything a results page shows, in the shopper's language; the same for the UI and the API."""

    query: Query
    lang: str
    summary: str
    hits: list[Hit]
    total: int
    chips: list[Chip] = field(default_factory=list)  # filters read from the words of this query
    # The shopper's own filters (the sidebar's, or an API caller's), which stay from search to search:
    # shown beside the results so a filter set for an earlier search never narrows a new one unseen.
    filter_chips: list[Chip] = field(default_factory=list)
    facets: list[Facet] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # product id -> why it was personalised
    transcript: Transcript | None = None
    relaxations: list[Relaxation] = field(default_factory=list)
    nearest: list[Hit] = field(default_factory=list)  # shown when nothing matched every filter
    personalised: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def has_more(self) -> bool:
        return len(self.hits) < self.total


@dataclass
class ProductView:
    """A product's panel: the product, similar products and what others bought with it."""

    product: Product
    similar: list[Hit]
    bought_together: list[Product]


@dataclass(frozen=True)
class Recommendation:
    product: Product
    reason: str


@dataclass
class ForYou:
    """The "For you" row: recommendations with reasons, and whether the shopper is still a stranger."""

    items: list[Recommendation]
    cold: bool
    note: str


@dataclass(frozen=True)
class ReviewItem:
    """One review as a product panel shows it, in the shopper's language."""

    id: str
    stars: int
    text: str
    author: str
    written: str  # "3 days ago"
    helpful: int
    why: str  # why it is shown where it is
    photo: bool  # has a photo (served by review id)
    photo_doubtful: bool  # the photo may not show this product
    mine: bool
    generated: bool  # shipped with the demo catalogue, not written by a shopper


@dataclass
class ReviewsView:
    """A product's reviews: the summary line, stars, and the reviews most helpful first."""

    summary: str
    stars: float | None
    count: int
    items: list[ReviewItem]


@dataclass(frozen=True)
class Status:
    """What works right now. A feature whose model could not be loaded is off, with the reason."""

    photo: bool
    voice: bool
    photo_reason: str | None = None
    voice_reason: str | None = None
    indexing: tuple[int, int] | None = None  # (done, total) while the catalogue is indexed in the background
    ready: bool = True
    catalogue_problem: str | None = None  # why the catalogue a shop owner chose last could not be served
