"""Links that reproduce a search: the query and its filters in the page's address.

``?q=red+shoes&cat=shoes&colour=red&max=50&sort=price_asc&drop=colour:red&n=24&lang=zh&mode=lexical``. A photo
or a recording cannot travel in a link; everything else does. A pairing QR code's link carries
``?pair=CODE`` (:func:`pairing_code`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from engine.shoppers.pairing import ALPHABET, CODE_LENGTH, normalise
from engine.types import MODES, SORTS

LIST_SEPARATOR = ","
PAIRING_LINK_CHARS = 40  # more than any way of writing one pairing code (engine.shoppers.pairing)


@dataclass
class LinkState:
    """The parts of the page a link carries, as plain values."""

    text: str = ""
    negative: str = ""
    categories: list[str] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)
    price_min: float | None = None
    price_max: float | None = None
    rating_min: float | None = None
    review_min: float | None = None
    sort: str = "relevance"
    dropped: list[str] = field(default_factory=list)
    shown: int | None = None
    lang: str | None = None
    mode: str = "hybrid"

    @property
    def asks_for_results(self) -> bool:
        return bool(self.text or self.categories or self.colours or self.price_min or self.price_max or self.rating_min
                    or self.review_min)

    def query_string(self) -> str:
        pairs = [
            ("q", self.text), ("not", self.negative), ("cat", LIST_SEPARATOR.join(self.categories)),
            ("colour", LIST_SEPARATOR.join(self.colours)), ("min", _number(self.price_min)), ("max", _number(self.price_max)),
            ("rating", _number(self.rating_min)), ("reviews", _number(self.review_min)), ("sort", "" if self.sort == "relevance" else self.sort),
            ("drop", LIST_SEPARATOR.join(self.dropped)), ("n", str(self.shown or "")), ("lang", self.lang or ""),
            ("mode", "" if self.mode == "hybrid" else self.mode),
        ]  # fmt: skip
        return urlencode([(key, value) for key, value in pairs if value])

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> LinkState:
        """Read a link's parameters; anything malformed is ignored rather than refused."""
        sort = params.get("sort", "relevance")
        return cls(
            text=params.get("q", "").strip()[:1000], negative=params.get("not", "").strip()[:200],
            categories=_list(params.get("cat")), colours=_list(params.get("colour")),
            price_min=_positive(params.get("min")), price_max=_positive(params.get("max")),
            rating_min=_positive(params.get("rating"), limit=5), review_min=_positive(params.get("reviews"), limit=5), sort=sort if sort in SORTS else "relevance",
            dropped=_list(params.get("drop"), lower=False), shown=_count(params.get("n")),
            lang=params.get("lang") if params.get("lang") in ("en", "zh") else None,
            mode=params.get("mode", "hybrid") if params.get("mode") in MODES else "hybrid",
        )  # fmt: skip


def pairing_code(params: Mapping[str, str]) -> str | None:
    """The pairing code a scanned QR code's link carries (``?pair=ABCD-EFGH``), if it is one.

    The page only offers it for joining: joining shares this device's profile with the device that
    showed the code, so it waits for the shopper to press Join rather than following a link.
    """
    code = normalise(params.get("pair", "")[:PAIRING_LINK_CHARS])
    if len(code) != CODE_LENGTH or any(symbol not in ALPHABET for symbol in code):
        return None
    return f"{code[:4]}-{code[4:]}"


def _list(value: str | None, *, lower: bool = True) -> list[str]:
    items = [item.strip() for item in (value or "").split(LIST_SEPARATOR) if item.strip()]
    return [item.lower() for item in items] if lower else items


def _positive(value: str | None, limit: float = 10_000_000) -> float | None:
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    return number if number is not None and 0 < number <= limit else None


def _count(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and 0 < int(value) <= 100 else None


def _number(value: float | None) -> str:
    return f"{value:g}" if value else ""
