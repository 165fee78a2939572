"""Reviews in order of helpfulness, each with a short "why shown first".

    score = 0.35·helpful + 0.30·substance + 0.15·photo + 0.20·recent

- helpful: log(1 + votes) / log(1 + 20), at most 1;
- substance: half for length (60 English words or 120 Chinese characters count in full), half for the
  aspects it has an opinion on (three count in full);
- photo: 1 for a photo that matches the product, 0 for none, −2 for one flagged "may not show this
  product" (so it ranks down, below reviews without a photo);
- recent: halves every 180 days.

Balance: when the product has critical reviews (3★ or fewer) but the best three are all 5★, the most
helpful critical review takes third place, so the top of the list is never one-sided.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.reviews.analysis import Analysis
from engine.reviews.photos import PhotoCheck
from engine.reviews.store import Review

WEIGHTS = {"helpful": 0.35, "substance": 0.30, "photo": 0.15, "recent": 0.20}
FLAGGED_PHOTO = -2.0
FULL_VOTES = 20
FULL_LENGTH = {"en": 60, "zh": 120}
FULL_ASPECTS = 3
HALF_LIFE_DAYS = 180
CRITICAL_STARS = 3
TOP = 3
DAY = 86400

Reason = tuple[str, dict]  # a text key and its values, as engine.shoppers.personal gives them
WHY = {
    "en": {
        "review.helpful": "{count} found it helpful", "review.aspects": "covers {aspects}",
        "review.detailed": "detailed", "review.photo": "photo of the product", "review.recent": "recent",
        "review.balance": "a critical view, for balance",
        "review.photo_mismatch": "photo may not show this product, so it ranks lower",
    },
    "zh": {
        "review.helpful": "{count}人觉得有用", "review.aspects": "谈到{aspects}", "review.detailed": "内容详细",
        "review.photo": "有商品实拍", "review.recent": "最近发表", "review.balance": "差评也要看，保持客观",
        "review.photo_mismatch": "照片可能不是这件商品，排序靠后",
    },
}  # fmt: skip


@dataclass(frozen=True)
class RankedReview:
    review: Review
    analysis: Analysis
    photo: PhotoCheck | None
    score: float
    parts: dict[str, float]  # weighted terms of the score; they add up to it
    reasons: tuple[Reason, ...]  # why it is where it is, strongest first
    mine: bool = False  # written by the shopper who is looking

    def why(self, language: str = "en", aspect_names: Mapping[str, str] | None = None) -> str:
        """The reasons as one short line, e.g. "12 found it helpful · covers comfort, looks"."""
        texts = WHY.get(language, WHY["en"])
        names = aspect_names or {}
        comma = "、" if language == "zh" else ", "
        parts = []
        for key, values in self.reasons:
            if key == "review.aspects":
                values = {"aspects": comma.join(names.get(a, a) for a in values["aspects"])}
            parts.append(texts[key].format(**values))
        return " · ".join(parts)


def parts_of(review: Review, analysis: Analysis, photo: PhotoCheck | None, now: float) -> dict[str, float]:
    helpful = min(1.0, math.log1p(review.helpful) / math.log1p(FULL_VOTES))
    length = len(review.text.split()) if review.language == "en" else len(review.text)
    substance = 0.5 * min(1.0, length / FULL_LENGTH.get(review.language, 60))
    substance += 0.5 * min(1.0, len(analysis.aspects) / FULL_ASPECTS)
    photo_value = 0.0 if photo is None else 1.0 if photo.matches else FLAGGED_PHOTO
    recent = 0.5 ** (max(0.0, now - review.created) / DAY / HALF_LIFE_DAYS)
    values = {"helpful": helpful, "substance": substance, "photo": photo_value, "recent": recent}
    return {name: round(WEIGHTS[name] * value, 4) for name, value in values.items()}


def reasons_of(review: Review, analysis: Analysis, photo: PhotoCheck | None, parts: dict[str, float]) -> list[Reason]:
    if photo is not None and not photo.matches:
        return [("review.photo_mismatch", {})]
    candidates: list[tuple[float, Reason]] = []
    if review.helpful:
        candidates.append((parts["helpful"], ("review.helpful", {"count": review.helpful})))
    if analysis.aspects:
        candidates.append((parts["substance"], ("review.aspects", {"aspects": sorted(analysis.aspects)})))
    elif parts["substance"] >= 0.5 * WEIGHTS["substance"]:
        candidates.append((parts["substance"], ("review.detailed", {})))
    if photo is not None:
        candidates.append((parts["photo"], ("review.photo", {})))
    if parts["recent"] >= 0.75 * WEIGHTS["recent"]:  # within about 75 days
        candidates.append((parts["recent"], ("review.recent", {})))
    return [reason for _, reason in sorted(candidates, key=lambda c: -c[0])[:2]]


def rank(reviews: Sequence[Review], analyses: Mapping[str, Analysis], photos: Mapping[str, PhotoCheck], now: float,
         viewer: str | None = None) -> list[RankedReview]:  # fmt: skip
    """The product's reviews, most helpful first, with the balance rule applied."""
    ranked = []
    for review in reviews:
        analysis, photo = analyses[review.id], photos.get(review.id)
        parts = parts_of(review, analysis, photo, now)
        ranked.append(RankedReview(review, analysis, photo, round(sum(parts.values()), 4), parts,
                                   tuple(reasons_of(review, analysis, photo, parts)),
                                   mine=viewer is not None and review.contributor == viewer))  # fmt: skip
    ranked.sort(key=lambda r: (-r.score, -r.review.created, r.review.id))
    return balanced(ranked)


def balanced(ranked: list[RankedReview]) -> list[RankedReview]:
    """Put the best critical review third when the top three are all 5★ and critical reviews exist."""
    if len(ranked) <= TOP or any(r.review.stars < 5 for r in ranked[:TOP]):
        return ranked
    critical = next((r for r in ranked[TOP:] if r.review.stars <= CRITICAL_STARS), None)
    if critical is None:
        return ranked
    promoted = RankedReview(critical.review, critical.analysis, critical.photo, critical.score, critical.parts,
                            (("review.balance", {}), *critical.reasons), critical.mine)  # fmt: skip
    rest = [r for r in ranked if r is not critical]
    return rest[: TOP - 1] + [promoted] + rest[TOP - 1 :]
