"""Query suggestions as you type, from catalogue titles, categories and popular searches.

Every suggestion is indexed under lower-cased keys in one sorted list; a prefix is then a
``bisect`` range, so a keystroke costs a binary search plus ranking the few matches.

What is suggested for a prefix:

- Titles, from each word on: "Red Running Shoe" is found by "red r" as "red running shoe" and by
  "run" as "running shoe", so the shopper is offered the item, not eight colourways of it.
- Chinese titles, whole and without a leading colour word: "红色跑步鞋" is found by "红" and, as
  "跑步鞋", by "跑" (Chinese has no spaces, and a colour usually comes first).
- Category names, in English and Chinese (服装, 鞋子 …), and popular searches as they were typed.

Ranking: popular searches count three times, categories twice and title phrases once per product
that has them; ties go to the shorter suggestion, then alphabetical order.
"""

from __future__ import annotations

import bisect
import heapq
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.search.understand import CATEGORY_WORDS, COLOUR_WORDS

CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAS_CJK = re.compile(rf"[{CJK}]")
WEIGHTS = {"popular": 3.0, "category": 2.0, "title": 1.0}
# two-character colour words and longer: a lone 黄 would cut 黄油牛角包 into 油牛角包
ZH_COLOURS = sorted(
    (w for ws in COLOUR_WORDS.values() for w in ws if HAS_CJK.search(w) and len(w) > 1), key=len, reverse=True
)
MAX_KEY_CHARS = 60


@dataclass(frozen=True)
class Suggestion:
    text: str
    source: str  # "popular", "category" or "title": the strongest place it came from
    score: float


def normalise(text: str) -> str:
    """Lower case, single spaces, hyphens as spaces: how keys and typed prefixes are compared."""
    return re.sub(r"[\s_-]+", " ", text.lower()).strip()


class Suggester:
    """Prefix suggestions over a fixed set of phrases. Build with :meth:`from_products`."""

    def __init__(self, phrases: Iterable[tuple[str, str, float]] = ()) -> None:
        """``phrases``: (text, source, count); the same text from several places adds up."""
        self._entries: dict[str, list] = {}  # normalised text -> [display text, score, best source, best weight]
        for text, source, count in phrases:
            self._add(text, source, count)
        self._keys: list[str] = sorted(self._entries)

    @classmethod
    def from_products(cls, products: Iterable, popular: Mapping[str, int] | None = None) -> Suggester:
        """Suggestions from products' titles (both languages) and categories, plus popular searches."""
        phrases: list[tuple[str, str, float]] = []
        categories: set[str] = set()
        for product in products:
            phrases += [(tail, "title", 1) for tail in _english_tails(product.title)]
            if product.title_zh:
                phrases += [(tail, "title", 1) for tail in _chinese_heads(product.title_zh)]
            categories.add(product.category)
        for category in sorted(categories):
            phrases += [(word, "category", 1) for word in (category, *CATEGORY_WORDS.get(category, ()))]
        phrases += [(text, "popular", count) for text, count in (popular or {}).items() if text.strip() and count > 0]
        return cls(phrases)

    def phrases(self) -> list[str]:
        """Every phrase this suggester can offer (the public list popular searches are counted over)."""
        return [entry[0] for entry in self._entries.values()]

    def __len__(self) -> int:
        return len(self._entries)

    def suggest(self, prefix: str, k: int = 8) -> list[Suggestion]:
        """At most ``k`` suggestions starting with ``prefix`` (case and hyphens ignored), best first."""
        key = normalise(prefix)
        if not key or k <= 0:
            return []
        start = bisect.bisect_left(self._keys, key)
        end = bisect.bisect_left(self._keys, key + "\U0010ffff", start)
        matches = (self._entries[found] for found in self._keys[start:end])
        best = heapq.nsmallest(k, matches, key=lambda e: (-e[1], len(e[0]), e[0]))
        return [Suggestion(text, source, round(score, 3)) for text, score, source, _ in best]

    def _add(self, text: str, source: str, count: float) -> None:
        key = normalise(text)[:MAX_KEY_CHARS]
        if not key:
            return
        weight = WEIGHTS.get(source, 1.0)
        entry = self._entries.setdefault(key, [text.strip(), 0.0, source, weight])
        entry[1] += weight * count
        if weight > entry[3]:
            entry[0], entry[2], entry[3] = text.strip(), source, weight


def _english_tails(title: str) -> list[str]:
    """A title from each of its words on, lower-cased: "Red Running Shoe" -> 3 phrases."""
    words = title.lower().split()
    return [" ".join(words[i:]) for i in range(len(words)) if re.match(r"[a-z0-9]", words[i])]


def _chinese_heads(title: str) -> list[str]:
    """A Chinese title whole and without a leading colour word ("红色跑步鞋" -> also "跑步鞋")."""
    heads = [title.strip()]
    for colour in ZH_COLOURS:
        if title.startswith(colour) and len(title) > len(colour):
            heads.append(title[len(colour) :].lstrip("的").strip())
            break
    return [head for head in heads if head]
