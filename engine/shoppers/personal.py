"""Personalisation in the app: events in, "For you", re-ranked results with reasons, a visible profile.

Uses the trained :class:`engine.shopper.ShopperModel` when ``data_dir/recommender.pt`` exists and
fits the current vector space; otherwise it falls back, and says so in the log, to the "average of
history" scorer (cosine to what the shopper viewed and bought, blended with query relevance).
A shopper with no product events is a cold start: "For you" shows popular, highly rated products.
"""

from __future__ import annotations

import logging
import pickle
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from engine.catalogue.products import Product
from engine.catalogue.store import ProductStore
from engine.i18n import Lang, age_text, product_title, text
from engine.models.clip import ClipEmbedder
from engine.reviews.desk import ReviewDesk
from engine.shoppers.events import EventStore
from engine.shoppers.model import (
    HALF_LIFE_EVENTS,
    HALF_LIFE_SECONDS,
    INTEREST,
    ProductFeatures,
    ShopperModel,
    shopper_inputs,
)
from engine.shoppers.privacy import PrivateStats
from engine.types import Hit

log = logging.getLogger(__name__)
MODEL_FILE = "recommender.pt"
PERSONAL_WEIGHT = 0.5  # a product one standard deviation above the pool's taste gains half the score spread


Reason = tuple[str, dict[str, Any]]  # an engine.i18n text key and its values, e.g. ("reason.viewed", {"product": p})
REPEAT_WINDOW_SECONDS = 30 * 60  # the same search again within this time (a refinement) is recorded once


@dataclass(frozen=True)
class Suggestion:
    product: Product
    score: float
    reason: Reason


class Personaliser:
    """Recommendations and re-ranking for one shopper. Anything counted across shoppers ("popular",
    "bought together") comes from ``private`` (differentially private) when given."""

    def __init__(self, store: ProductStore, embedder: ClipEmbedder, events: EventStore, categories: list[str],
                 colours: list[str], *, private: PrivateStats | None = None, reviews: ReviewDesk | None = None,
                 catalogue: Callable[[], list[Product]] | None = None) -> None:  # fmt: skip
        self.store, self.embedder, self.events = store, embedder, events
        self.categories, self.colours = categories, colours
        self.private, self.reviews = private, reviews
        self.catalogue = catalogue  # every product on sale (the search snapshot); the vectors may be fewer
        self._query_vectors: dict[str, np.ndarray] = {}

    @cached_property
    def features(self) -> ProductFeatures:
        ids = sorted(self.store.stored_product_ids())
        reviews = self.reviews.features(ids) if self.reviews is not None else None
        return ProductFeatures.build(list(self.store.products(ids).values()), self.store.vectors(ids, "image"),
                                     self.store.vectors(ids, "text"), self.categories, self.colours, reviews=reviews)  # fmt: skip

    def popularity(self) -> Counter:
        """How popular each product is across shoppers: the private release when there is one."""
        if self.private is not None:
            return Counter(dict(self.private.popular(k=None)))
        return self.events.popularity()

    @cached_property
    def model(self) -> ShopperModel | None:
        path = self.store.settings.data_dir / MODEL_FILE
        if not path.exists():
            log.info("no trained shopper model at %s: using the average-of-history scorer", path)
            return None
        try:
            model, meta = ShopperModel.load(path)
        except (pickle.UnpicklingError, RuntimeError, KeyError, TypeError, EOFError) as error:
            log.warning("shopper model %s cannot be read safely (%s); using the average-of-history scorer", path, error)
            return None
        if meta.get("space") != self.embedder.space.model_id or model.config["product_dim"] != self.features.matrix.shape[1]:
            log.warning("shopper model %s was trained for another index; using the average-of-history scorer", path)
            return None
        log.info("loaded shopper model %s", path)
        return model

    def refresh(self) -> None:
        self.__dict__.pop("features", None)
        self.__dict__.pop("model", None)

    # --- events ---------------------------------------------------------------------------------
    def record(self, shopper: str, kind: str, **details) -> None:
        if shopper:
            self.events.record(shopper, kind, **details)  # type: ignore[arg-type]

    def record_search(self, shopper: str, query: str | None, modality: str) -> bool:
        """Record a search unless it repeats the shopper's previous one (sorting, paging, a facet click)."""
        if not shopper:
            return False
        last = next((e for e in self.events.history(shopper, limit=1)), None)
        if last and last.kind == "search" and (last.query, last.modality) == (query, modality) \
                and time.time() - last.at < REPEAT_WINDOW_SECONDS:  # fmt: skip
            return False
        self.events.record(shopper, "search", query=query, modality=modality)
        return True

    def inputs(self, shopper: str) -> tuple[np.ndarray, list]:
        history = self.events.history(shopper) if shopper else []
        queries = [e.query for e in history if e.kind == "search" and e.query and e.query not in self._query_vectors]
        if queries:
            self._query_vectors.update(zip(queries, self.embedder.embed_texts(queries)))
        now = time.time()
        events = [(e.kind, e.product_id, self._query_vectors.get(e.query) if e.query else None,
                   (now - e.at) / HALF_LIFE_SECONDS * HALF_LIFE_EVENTS) for e in history]  # fmt: skip
        return shopper_inputs(self.features, events), history

    # --- scoring --------------------------------------------------------------------------------
    def _scores(self, shopper_in: np.ndarray, rows: np.ndarray, relevance: np.ndarray) -> np.ndarray:
        if self.model is not None:
            return self.model.rank(shopper_in, rows, relevance)
        width = rows.shape[1]
        history = shopper_in[:width] + shopper_in[width : 2 * width]
        affinity = rows @ history / (np.linalg.norm(rows, axis=1) * np.linalg.norm(history) + 1e-9)
        return 0.5 * relevance + 0.5 * affinity

    def rerank(self, shopper: str, hits: list[Hit]) -> tuple[list[Hit], dict[str, Reason]]:
        """Hits re-ordered for the shopper (breakdown gains "personal"), and a reason per moved hit."""
        shopper_in, history = self.inputs(shopper)
        index = self.features.index()
        usable = [hit for hit in hits if hit.product.id in index]
        if not usable or not any(e.product_id for e in history):
            return hits, {}
        scores = np.asarray([hit.score for hit in usable], np.float32)
        spread = float(scores.max() - scores.min()) or 1.0
        relevance = (scores - scores.min()) / spread
        rows = self.features.matrix[[index[hit.product.id] for hit in usable]]
        taste = self._scores(shopper_in, rows, relevance)
        # In units of the pool's own score spread, so taste can reorder results but not swamp the query.
        personal = PERSONAL_WEIGHT * spread * (taste - taste.mean()) / (taste.std() + 1e-9)
        reranked = [
            Hit(hit.product, hit.score + float(p), hit.similarity, hit.matched, {**hit.breakdown, "personal": float(p)},
                hit.matched_words)
            for hit, p in zip(usable, personal)
        ]  # fmt: skip
        reranked.sort(key=lambda hit: -hit.score)
        return reranked, {hit.product.id: self.reason(hit.product, history) for hit in reranked}

    def for_you(self, shopper: str, k: int = 12) -> tuple[list[Suggestion], bool]:
        """Suggestions and whether this is a cold start (popular and highly rated instead)."""
        shopper_in, history = self.inputs(shopper)
        owned = {e.product_id for e in history if e.kind == "purchase"}
        products = self.features.products
        if not any(e.product_id for e in history) or not products:  # a stranger, or no vectors to learn from
            products = self.catalogue() if self.catalogue is not None else products
            popularity = self.popularity()
            top = max(popularity.values(), default=1.0)
            ranked = sorted(products, key=lambda p: -(popularity[p.id] / top + (p.rating or 0) / 5))
            return [Suggestion(p, popularity[p.id] / top + (p.rating or 0) / 5, ("reason.popular", {}))
                    for p in ranked[:k]], True  # fmt: skip
        scores = self._scores(shopper_in, self.features.matrix, np.zeros(len(products), np.float32))
        order = [i for i in np.argsort(-scores, kind="stable") if products[i].id not in owned][:k]
        return [Suggestion(products[i], float(scores[i]), self.reason(products[i], history)) for i in order], False

    def reason(self, product: Product, history: list) -> Reason:
        by_id = self.features.by_id
        seen = [by_id[e.product_id] for e in history if e.product_id in by_id]
        same = next((p for p in seen if p.category == product.category and p.id != product.id), None)
        if same:
            return "reason.viewed", {"product": same}
        colours = Counter(p.colour for p in seen if p.colour)
        if colours and colours.most_common(1)[0][0] == product.colour:
            return "reason.colour", {"colour": product.colour}
        prices = [p.price for p in seen]
        if prices and 0.6 * statistics.median(prices) <= product.price <= 1.5 * statistics.median(prices):
            return "reason.price", {}
        return "reason.picked", {}

    # --- panels ---------------------------------------------------------------------------------
    def bought_together(self, product_id: str, k: int = 8) -> list[Product]:
        ids = self.private.bought_together(product_id, k) if self.private else self.events.bought_together(product_id, k)
        products = self.store.products(ids)
        return [products[pid] for pid in ids if pid in products]

    def profile(self, shopper: str, lang: Lang = "en") -> list[list]:
        """Rows of (event id, what, product or query, age, weight): what drives the shopper vector."""
        _, history = self.inputs(shopper)
        by_id = self.features.by_id
        rows, now = [], time.time()
        for event in history:
            age = now - event.at
            decay = 0.5 ** (age / HALF_LIFE_SECONDS)
            weight = decay * INTEREST.get(event.kind, 1.0)
            what = product_title(by_id[event.product_id], lang) if event.product_id in by_id else (event.query or "")
            rows.append([event.id, text(f"event.{event.kind}", lang), what, age_text(age, lang), round(weight, 3)])
        return rows
