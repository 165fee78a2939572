"""Per-product review aggregates: stars, count, sentiment, what shoppers like and dislike.

"Shoppers like: comfort (12), looks (5) · dislike: runs small (3)". A like counts the reviews
praising an aspect; a dislike counts the reviews criticising it, under the complaint's name when the
lexicon knows one ("runs small") and the aspect's otherwise.

**Privacy.** The catalogue's bundled reviews are public data and are counted exactly. What this
shop's shoppers wrote is released with differential privacy before it is added (see
:mod:`engine.shoppers.privacy`): per product, each shopper counts once (their newest review) and
with at most :data:`MAX_ASPECT_CELLS` aspect opinions, so one shopper moves the review count by
1, the centred star sum (stars − 3) by 2, the sentiment sum by 2 and the like/dislike counts by 2 in
total. ε is split between them (:data:`SHARES`: half for the count, which decides what is shown at
all) and each gets Laplace noise of scale sensitivity / its share of ε; the shoppers' part is added
only when its noisy count reaches the minimum count. With ε = 1 and the default minimum of 20, a
product nobody reviewed shows shoppers' reviews with probability ½·e^(−20/2) ≈ 2·10⁻⁵. Every
product's aggregate is one release (a shopper who reviewed k products takes part in k of them).

**Best reviewed** sorts by a Bayesian average, which keeps a single 5★ review from outranking forty
4.6★ ones: ``score = (PRIOR·m + Σ stars) / (PRIOR + count)`` with ``m`` the mean star rating over
all products and PRIOR = 3 reviews. "4★ & up (by reviews)" means a mean of at least 4 stars, as a
shopper reads it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from engine.reviews.analysis import ASPECTS, Analysis, Language, Lexicon
from engine.reviews.store import Review
from engine.shoppers.privacy import Laplace

PRIOR = 3.0
MAX_ASPECT_CELLS = 2
SHARES = {"count": 1 / 2, "stars": 1 / 4, "sentiment": 1 / 8, "aspects": 1 / 8}  # of ε; they add up to 1
FULL_COUNT = 100  # log(1 + count) / log(1 + 100) is the count feature
REVIEW_FEATURES = ("has reviews", "stars", "log count", "sentiment", *(f"aspect {a}" for a in ASPECTS))
SUMMARY = {
    "en": ("Shoppers like: ", " · dislike: ", "{name} ({count})", ", "),
    "zh": ("买家喜欢：", " · 不满意：", "{name}（{count}）", "、"),
}


@dataclass
class Tally:
    """Sums over some reviews of one product (exact, or noisy once released)."""

    count: float = 0.0
    centred_stars: float = 0.0  # Σ (stars − 3)
    sentiment: float = 0.0
    likes: Counter = field(default_factory=Counter)  # aspect -> reviews praising it
    dislikes: Counter = field(default_factory=Counter)  # complaint or aspect -> reviews criticising it

    def add(self, review: Review, analysis: Analysis, cells: int | None = None) -> None:
        self.count += 1
        self.centred_stars += review.stars - 3
        self.sentiment += analysis.sentiment
        issues = analysis.issues
        for aspect, polarity in list(analysis.aspects.items())[:cells]:
            if polarity > 0:
                self.likes[aspect] += 1
            else:
                self.dislikes[issues.get(aspect, aspect)] += 1

    def __iadd__(self, other: Tally) -> Tally:
        self.count += other.count
        self.centred_stars += other.centred_stars
        self.sentiment += other.sentiment
        self.likes.update(other.likes)
        self.dislikes.update(other.dislikes)
        return self


@dataclass(frozen=True)
class ReviewStats:
    product_id: str
    count: int  # reviews counted (bundled exactly, shoppers' with noise)
    stars: float | None  # mean stars, 1..5
    score: float  # Bayesian average for "best reviewed"
    sentiment: float  # mean sentiment, -1..1
    likes: dict[str, int]  # aspect -> reviews praising it, most first
    dislikes: dict[str, int]  # complaint ("runs small") or aspect -> reviews criticising it

    @property
    def four_and_up(self) -> bool:
        """The facet "4★ & up (by reviews)"."""
        return self.count > 0 and self.stars is not None and self.stars >= 4.0

    def aspect_scores(self, lexicon: Lexicon) -> dict[str, float]:
        """Per aspect, (likes − dislikes) / (likes + dislikes + 1), in -1..1."""
        disliked = Counter()
        for label, count in self.dislikes.items():
            disliked[label if label in ASPECTS else lexicon.aspect_of_issue(label)] += count
        return {a: (self.likes.get(a, 0) - disliked[a]) / (self.likes.get(a, 0) + disliked[a] + 1) for a in ASPECTS}

    def text(self, lexicon: Lexicon, language: Language = "en", top: int = 3) -> str:
        """'Shoppers like: comfort (12), looks (5) · dislike: runs small (3)'; empty without opinions."""
        like, dislike, item, comma = SUMMARY[language]

        def listed(counts: dict[str, int]) -> str:
            return comma.join(item.format(name=_label(lexicon, key, language), count=n)
                              for key, n in list(counts.items())[:top])  # fmt: skip

        parts = [like + listed(self.likes)] if self.likes else []
        if self.dislikes:
            parts.append((dislike if parts else dislike.lstrip(" ·").capitalize()) + listed(self.dislikes))
        return "".join(parts)


def _label(lexicon: Lexicon, key: str, language: Language) -> str:
    return lexicon.name(key, language) if key in ASPECTS else lexicon.issue_name(key, language)


def tallies(reviews: Iterable[tuple[Review, Analysis]]) -> tuple[dict[str, Tally], dict[str, Tally]]:
    """(bundled, shoppers') exact tallies per product; each shopper counts once per product."""
    bundled: dict[str, Tally] = {}
    newest: dict[tuple[str, str], tuple[Review, Analysis]] = {}
    shoppers: dict[str, Tally] = {}
    for review, analysis in reviews:
        if not review.from_shoppers:
            bundled.setdefault(review.product_id, Tally()).add(review, analysis)
        elif review.contributor is None:  # anonymised: no longer linkable, so its own contributor
            shoppers.setdefault(review.product_id, Tally()).add(review, analysis, MAX_ASPECT_CELLS)
        else:
            key = (review.product_id, review.contributor)
            if key not in newest or newest[key][0].updated < review.updated:
                newest[key] = (review, analysis)
    for review, analysis in newest.values():
        shoppers.setdefault(review.product_id, Tally()).add(review, analysis, MAX_ASPECT_CELLS)
    return bundled, shoppers


def release(exact: Mapping[str, Tally], domain: Iterable[str], lexicon: Lexicon, laplace: Laplace,
            min_count: float) -> dict[str, Tally]:  # fmt: skip
    """The shoppers' tallies with Laplace noise, for every product of ``domain``; below the threshold: none.

    Noise goes on every product and every like/dislike the lexicon can name, data or not, so that
    what is shown never depends on which cells happen to be non-zero.
    """
    products = sorted(set(domain))
    share = {name: Laplace(laplace.epsilon * part, laplace.rng) for name, part in SHARES.items()}
    count = share["count"].noisy({p: t.count for p, t in exact.items()}, products, 1.0)
    stars = share["stars"].noisy({p: t.centred_stars for p, t in exact.items()}, products, 2.0)
    sentiment = share["sentiment"].noisy({p: t.sentiment for p, t in exact.items()}, products, 2.0)
    cells = [(p, "like", a) for p in products for a in ASPECTS]
    cells += [(p, "dislike", label) for p in products for label in (*ASPECTS, *lexicon.issues())]
    exact_cells = {(p, kind, label): n for p, t in exact.items()
                   for kind, counter in (("like", t.likes), ("dislike", t.dislikes)) for label, n in counter.items()}  # fmt: skip
    noisy_cells = share["aspects"].noisy(exact_cells, cells, float(MAX_ASPECT_CELLS))
    released = {p: Tally(count[p], stars[p], sentiment[p]) for p in products if count[p] >= max(min_count, 1.0)}
    for (product, kind, label), value in noisy_cells.items():
        if product in released and value >= 0.5:
            (released[product].likes if kind == "like" else released[product].dislikes)[label] = value
    return released


def stats(bundled: Mapping[str, Tally], released: Mapping[str, Tally]) -> dict[str, ReviewStats]:
    """Shown statistics per product: bundled tallies plus the released shoppers' part."""
    totals: dict[str, Tally] = {}
    for source in (bundled, released):
        for product, tally in source.items():
            total = totals.setdefault(product, Tally())
            total += tally
    counted = [t for t in totals.values() if t.count >= 1]
    mean = 3 + sum(t.centred_stars for t in counted) / max(sum(t.count for t in counted), 1.0)
    return {product: _stats(product, tally, mean) for product, tally in totals.items() if tally.count >= 1}


def _stats(product: str, tally: Tally, prior_mean: float) -> ReviewStats:
    count = max(tally.count, 1.0)
    stars = min(5.0, max(1.0, 3 + tally.centred_stars / count))
    score = (PRIOR * prior_mean + stars * count) / (PRIOR + count)
    sentiment = min(1.0, max(-1.0, tally.sentiment / count))
    return ReviewStats(product, round(tally.count), round(stars, 2), round(score, 3), round(sentiment, 3),
                       _counted(tally.likes), _counted(tally.dislikes))  # fmt: skip


def _counted(counter: Counter) -> dict[str, int]:
    return {label: round(n) for label, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])) if round(n) >= 1}


def features(product_ids: Iterable[str], shown: Mapping[str, ReviewStats], lexicon: Lexicon) -> dict[str, np.ndarray]:
    """The review block of the product vector G (:data:`REVIEW_FEATURES`), zeros for unreviewed products."""
    rows = {}
    for product in product_ids:
        s = shown.get(product)
        if s is None:
            rows[product] = np.zeros(len(REVIEW_FEATURES), np.float32)
            continue
        head = [1.0, (s.stars or 0.0) / 5, min(1.0, math.log1p(s.count) / math.log1p(FULL_COUNT)), (s.sentiment + 1) / 2]
        rows[product] = np.asarray(head + list(s.aspect_scores(lexicon).values()), np.float32)
    return rows
