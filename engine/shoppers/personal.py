"""Personalisation in the app: events in, "For you", re-ranked results with reasons, a visible profile.

Uses the trained :class:`engine.shopper.ShopperModel` when ``data_dir/recommender.pt`` exists and
fits the current vector space; otherwise it falls back, and says so in the log, to the "average of
history" scorer (cosine to what the shopper viewed and bought, blended with query relevance).
A shopper with no product events is a cold start: "For you" shows popular, highly rated products.

Serving costs O(k), not O(catalogue), and the catalogue's vectors stay in the vector store:

- a product's feature row is built when it is needed, from its two CLIP vectors read from the store
  for that product alone (a bounded LRU of rows per catalogue version saves repeated reads);
- the shopper vector is computed once per change of the shopper's history (it does not drift with
  time: recency weights are relative) and kept in a bounded LRU of shoppers;
- "For you" ranks a pool of about 10·k products: the store's nearest neighbours of the shopper's
  taste, plus the most popular products, minus what the shopper owns;
- a cold start merges two lists kept per catalogue version or per popularity release (the best rated,
  the most popular) with the threshold algorithm: the exact top k, without sorting the catalogue.
"""

from __future__ import annotations

import logging
import pickle
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from engine.catalogue.products import Product
from engine.catalogue.store import ProductStore
from engine.i18n import Lang, age_text, product_title, text
from engine.lru import LRU
from engine.models.clip import ClipEmbedder
from engine.reviews.desk import ReviewDesk
from engine.reviews.summary import REVIEW_FEATURES
from engine.shoppers.catalogue import CatalogueSnapshot, CatalogueView, Popularity
from engine.shoppers.events import Event, EventStore
from engine.shoppers.model import (
    HALF_LIFE_EVENTS,
    HALF_LIFE_SECONDS,
    INTEREST,
    ProductFeatures,
    RowSet,
    ShopperModel,
    numeric_features,
    shopper_inputs,
)
from engine.shoppers.privacy import PrivateStats
from engine.types import Hit

log = logging.getLogger(__name__)
MODEL_FILE = "recommender.pt"
PERSONAL_WEIGHT = 0.5  # a product one standard deviation above the pool's taste gains half the score spread


Reason = tuple[str, dict[str, Any]]  # an engine.i18n text key and its values, e.g. ("reason.viewed", {"product": p})
REPEAT_WINDOW_SECONDS = 30 * 60  # the same search again within this time (a refinement) is recorded once

NEIGHBOURS_PER_SUGGESTION = 4  # "For you" asks the store for 4·k neighbours by image and 4·k by text
POPULAR_PER_SUGGESTION = 2  # and adds the 2·k most popular products to the pool
SHOPPER_CACHE = 4096  # shopper vectors kept (about 11 kB each at CLIP dim 512)
QUERY_CACHE = 4096  # CLIP vectors of searched words kept
POPULARITY_SECONDS = 60.0  # without a private release, popularity is counted from the event log this often
READ_PAGE = 2000  # products per store read when reading all of them (Chroma refuses ~32k ids in one call)

@dataclass(frozen=True, eq=False)  # compared by identity
class ShopperState:
    """What one shopper's history amounts to, computed once per change of that history."""

    events: tuple[int, ...]  # ids of the events it was computed from, newest first
    view: CatalogueView  # the catalogue version its rows came from
    inputs: np.ndarray  # [U_browse; U_purchase; U_search]
    seen: tuple[Product, ...]  # the products of those events, newest first (for reasons)


@dataclass(frozen=True)
class Suggestion:
    product: Product
    score: float
    reason: Reason


class Personaliser:
    """Recommendations and re-ranking for one shopper. Anything counted across shoppers ("popular",
    "bought together") comes from ``private`` (differentially private) when given.

    ``snapshot`` (the search snapshot) or ``catalogue`` (its products) says what is on sale; with
    ``snapshot`` products are looked up in its ``by_id``, otherwise the store is asked for the few
    needed. With neither, the stored products are read once per :meth:`refresh`.
    """

    def __init__(self, store: ProductStore, embedder: ClipEmbedder, events: EventStore, categories: list[str],
                 colours: list[str], *, private: PrivateStats | None = None, reviews: ReviewDesk | None = None,
                 catalogue: Callable[[], Sequence[Product]] | None = None,
                 snapshot: Callable[[], CatalogueSnapshot] | None = None) -> None:  # fmt: skip
        self.store, self.embedder, self.events = store, embedder, events
        self.categories, self.colours = categories, colours
        self.private, self.reviews = private, reviews
        self.catalogue, self.snapshot = catalogue, snapshot
        # Without a CLIP model (words-only mode) there are no vectors to learn from: every shopper is a cold start.
        self.clip_dim = store.space.dim if store.space is not None else 0
        review_dim = len(REVIEW_FEATURES) if reviews is not None else 0
        self.width = 2 * self.clip_dim + 2 + len(categories) + len(colours) + review_dim  # of a product row
        self._query_vectors: LRU[str, np.ndarray] = LRU(QUERY_CACHE)
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._view: CatalogueView | None = None
        self._stored: list[Product] | None = None  # the catalogue when no provider was given
        self._shoppers: LRU[str, ShopperState] = LRU(SHOPPER_CACHE)
        self._popularity: tuple[float, Popularity] | None = None  # (when counted, what)

    @cached_property
    def features(self) -> ProductFeatures:
        """Rows of every stored product, for training and evaluation only: serving never builds this."""
        ids = sorted(self.store.stored_product_ids())
        image, words = {}, {}
        for start in range(0, len(ids), READ_PAGE):
            image.update(self.store.vectors(ids[start : start + READ_PAGE], "image"))
            words.update(self.store.vectors(ids[start : start + READ_PAGE], "text"))
        reviews = self.reviews.features(ids) if self.reviews is not None else None
        return ProductFeatures.build(self._stored_products(ids), image, words, self.categories, self.colours,
                                     reviews=reviews, scale=self.view().price_scale)  # fmt: skip

    def _stored_products(self, ids: Sequence[str]) -> list[Product]:
        """The products of ``ids`` read from the store, a page at a time."""
        pages = (self.store.products(ids[start : start + READ_PAGE]) for start in range(0, len(ids), READ_PAGE))
        return [product for page in pages for product in page.values()]

    def popularity(self) -> Counter:
        """How popular each product is across shoppers: the private release when there is one.

        Every product, so O(catalogue): not for serving, which reads the cached top list (:meth:`_popular`)."""
        if self.private is not None:
            return Counter(dict(self.private.popular(k=None)))
        return self.events.popularity()

    @cached_property
    def model(self) -> ShopperModel | None:
        path = self.store.settings.data_dir / MODEL_FILE
        if self.store.space is None:
            return None
        if not path.exists():
            log.info("no trained shopper model at %s: using the average-of-history scorer", path)
            return None
        try:
            model, meta = ShopperModel.load(path)
        except (pickle.UnpicklingError, RuntimeError, KeyError, TypeError, EOFError) as error:
            log.warning("shopper model %s cannot be read safely (%s); using the average-of-history scorer", path, error)
            return None
        if meta.get("space") != self.embedder.space.model_id or model.config["product_dim"] != self.width:
            log.warning("shopper model %s was trained for another index; using the average-of-history scorer", path)
            return None
        log.info("loaded shopper model %s", path)
        return model

    def refresh(self) -> None:
        """Forget everything derived from the catalogue or the model file (after indexing or training)."""
        self.__dict__.pop("features", None)
        self.__dict__.pop("model", None)
        with self._lock:
            self._reset()

    # --- the catalogue, a few products at a time -------------------------------------------------
    def view(self) -> CatalogueView:
        """The current catalogue version's view, rebuilt (one pass) when the provider hands out a new one."""
        snapshot = self.snapshot() if self.snapshot is not None else None
        products = snapshot.products if snapshot is not None else self._catalogue_products()
        view = self._view
        if view is not None and view.products is products:
            return view
        with self._lock:  # one thread builds it; the others wait and share it
            if self._view is None or self._view.products is not products:
                self._view = CatalogueView.of(products, snapshot.by_id if snapshot is not None else None)
            return self._view

    def _catalogue_products(self) -> Sequence[Product]:
        if self.catalogue is not None:
            return self.catalogue()
        if self._stored is None:
            self._stored = self._stored_products(sorted(self.store.stored_product_ids()))
        return self._stored

    def _products(self, ids: Iterable[str | None], view: CatalogueView) -> dict[str, Product]:
        """The products of ``ids`` that are known, from the snapshot or else from the store."""
        wanted = [pid for pid in dict.fromkeys(ids) if pid]
        if view.by_id is not None:
            return {pid: view.by_id[pid] for pid in wanted if pid in view.by_id}
        return self.store.products(wanted)

    def rows(self, products: Sequence[Product], view: CatalogueView | None = None) -> RowSet:
        """Feature rows of ``products`` (those with both vectors): their vectors are read in one store call."""
        view = view or self.view()
        if not self.clip_dim:
            return RowSet({}, self.width, self.clip_dim)
        rows = {p.id: row for p in products if (row := view.rows.get(p.id)) is not None}
        missing = list({p.id: p for p in products if p.id not in rows}.values())
        if missing:
            vectors = self.store.record_vectors([(p.id, kind) for p in missing for kind in ("image", "text")])
            for product in missing:
                image, words = vectors.get((product.id, "image")), vectors.get((product.id, "text"))
                if image is not None and words is not None:
                    numeric = numeric_features(product, view.price_scale, self.categories, self.colours)
                    row = np.concatenate([image, words, numeric]).astype(np.float32)
                    rows[product.id] = row
                    view.rows.put(product.id, row)
        if self.reviews is not None and rows:  # fresh each time: the review release is redrawn on its own clock
            blocks = self.reviews.features(list(rows))
            rows = {pid: np.concatenate([row, blocks[pid]]).astype(np.float32) for pid, row in rows.items()}
        return RowSet(rows, self.width, self.clip_dim)

    def _popular(self) -> Popularity:
        """The private release's popularity (cached with the release), else the event log's, recounted every minute."""
        if self.private is not None:
            release = self.private.popularity()  # drawn once per release period, then the same mapping
            cached = self._popularity
            if cached is None or cached[1].counts is not release:
                shown = Popularity.of(release, self.private.settings.privacy_min_count)
                self._popularity = cached = (time.monotonic(), shown)
            return cached[1]
        cached = self._popularity
        if cached is None or time.monotonic() - cached[0] > POPULARITY_SECONDS:
            self._popularity = cached = (time.monotonic(), Popularity.of(self.events.popularity(), 0.0))
        return cached[1]

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

    # --- the shopper vector ---------------------------------------------------------------------
    def inputs(self, shopper: str) -> tuple[np.ndarray, list[Event]]:
        """[U_browse; U_purchase; U_search] of the shopper, and the history it comes from (newest first)."""
        state, history = self.state(shopper)
        return state.inputs, history

    def state(self, shopper: str) -> tuple[ShopperState, list[Event]]:
        """The shopper's state, recomputed only when their history or the catalogue version changed."""
        history = self.events.history(shopper) if shopper else []
        view, key = self.view(), tuple(e.id for e in history)
        state = self._shoppers.get(shopper)
        if state is None or state.events != key or state.view is not view:
            state = self._compute_state(history, view)
            if shopper:
                self._shoppers.put(shopper, state)
        return state, history

    def _compute_state(self, history: list[Event], view: CatalogueView) -> ShopperState:
        products = self._products((e.product_id for e in history), view)
        rows = self.rows(list(products.values()), view)
        queries = self._embed_queries([e.query for e in history if e.kind == "search" and e.query])
        now = time.time()
        events = [(e.kind, e.product_id, queries.get(e.query) if e.query else None,
                   (now - e.at) / HALF_LIFE_SECONDS * HALF_LIFE_EVENTS) for e in history]  # fmt: skip
        seen = tuple(products[e.product_id] for e in history if e.product_id in products)
        return ShopperState(tuple(e.id for e in history), view, shopper_inputs(rows, events), seen)

    def _embed_queries(self, queries: list[str]) -> dict[str, np.ndarray]:
        """CLIP vectors of searched words, from the shared LRU or embedded in one batch."""
        found = {q: v for q in dict.fromkeys(queries) if (v := self._query_vectors.get(q)) is not None}
        missing = [q for q in dict.fromkeys(queries) if q not in found]
        if missing and self.clip_dim:
            for query, vector in zip(missing, self.embedder.embed_texts(missing)):
                found[query] = vector
                self._query_vectors.put(query, vector)
        return found

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
        state, history = self.state(shopper)
        if not hits or not any(e.product_id for e in history):
            return hits, {}
        rows = self.rows([hit.product for hit in hits], state.view)
        usable = [hit for hit in hits if rows.row(hit.product.id) is not None]
        if not usable:
            return hits, {}
        scores = np.asarray([hit.score for hit in usable], np.float32)
        spread = float(scores.max() - scores.min()) or 1.0
        relevance = (scores - scores.min()) / spread
        taste = self._scores(state.inputs, rows.stack([hit.product.id for hit in usable]), relevance)
        # In units of the pool's own score spread, so taste can reorder results but not swamp the query.
        personal = PERSONAL_WEIGHT * spread * (taste - taste.mean()) / (taste.std() + 1e-9)
        reranked = [
            Hit(hit.product, hit.score + float(p), hit.similarity, hit.matched, {**hit.breakdown, "personal": float(p)},
                hit.matched_words)
            for hit, p in zip(usable, personal)
        ]  # fmt: skip
        reranked.sort(key=lambda hit: -hit.score)
        return reranked, {hit.product.id: _reason(hit.product, state.seen) for hit in reranked}

    def for_you(self, shopper: str, k: int = 12) -> tuple[list[Suggestion], bool]:
        """Suggestions and whether this is a cold start (popular and highly rated instead)."""
        state, history = self.state(shopper)
        if not any(e.product_id for e in history):  # a stranger
            return self._cold_start(k, state.view), True
        pool = self._pool(state, k, owned={e.product_id for e in history if e.kind == "purchase"})
        rows = self.rows(pool, state.view)
        pool = [p for p in pool if rows.row(p.id) is not None]
        if not pool:  # no vectors to learn from
            return self._cold_start(k, state.view), True
        scores = self._scores(state.inputs, rows.stack([p.id for p in pool]), np.zeros(len(pool), np.float32))
        ranked = sorted(zip(scores.tolist(), pool), key=lambda sp: (-sp[0], sp[1].id))[:k]
        return [Suggestion(p, score, _reason(p, state.seen)) for score, p in ranked], False

    def _pool(self, state: ShopperState, k: int, owned: set[str | None]) -> list[Product]:
        """What "For you" ranks: neighbours of the shopper's taste by image and by text, and the most popular."""
        taste = state.inputs[: self.width] + state.inputs[self.width : 2 * self.width]
        wanted = NEIGHBOURS_PER_SUGGESTION * k + len(owned)
        ids: list[str] = []
        for kind, part in (("image", taste[: self.clip_dim]), ("text", taste[self.clip_dim : 2 * self.clip_dim])):
            if np.any(part):  # a zero vector has no neighbours worth the name
                ids += [match.product_id for match in self.store.query(part, kind, wanted)]
        ids += [pid for pid, _ in self._popular().ranked[: POPULAR_PER_SUGGESTION * k + len(owned)]]
        ids = [pid for pid in dict.fromkeys(ids) if pid not in owned]
        products = self._products(ids, state.view)
        return [products[pid] for pid in ids if pid in products]

    def _cold_start(self, k: int, view: CatalogueView) -> list[Suggestion]:
        """The k best by popularity (relative to the most popular) plus rating / 5, exactly.

        Fagin's threshold algorithm over the two ranked lists: read both to a depth, and stop once the
        k-th best score found beats anything a product deeper in both lists could score.
        """
        if k <= 0:
            return []
        popularity = self._popular()
        top = (popularity.ranked[0][1] if popularity.ranked else 0.0) or 1.0
        found: dict[str, Product] = {}
        depth = k
        while True:
            found.update((p.id, p) for p in view.best_rated[:depth])
            found.update(self._products((pid for pid, _ in popularity.ranked[:depth] if pid not in found), view))
            scored = sorted(((popularity.count(p.id) / top + (p.rating or 0.0) / 5, p) for p in found.values()),
                            key=lambda sp: (-sp[0], sp[1].id))[:k]  # fmt: skip
            bound = popularity.bound(depth) / top + view.rating_bound(depth) / 5
            read_all = depth >= len(popularity.ranked) and depth >= len(view.best_rated)
            if read_all or (len(scored) == k and scored[-1][0] > bound):
                return [Suggestion(p, score, ("reason.popular", {})) for score, p in scored]
            depth *= 2

    def reason(self, product: Product, history: list[Event]) -> Reason:
        """Why ``product`` suits a shopper with this history (newest first)."""
        products = self._products((e.product_id for e in history), self.view())
        return _reason(product, [products[e.product_id] for e in history if e.product_id in products])

    # --- panels ---------------------------------------------------------------------------------
    def bought_together(self, product_id: str, k: int = 8) -> list[Product]:
        ids = self.private.bought_together(product_id, k) if self.private else self.events.bought_together(product_id, k)
        products = self.store.products(ids)
        return [products[pid] for pid in ids if pid in products]

    def profile(self, shopper: str, lang: Lang = "en") -> list[list]:
        """Rows of (event id, what, product or query, age, weight): what drives the shopper vector."""
        history = self.events.history(shopper) if shopper else []
        by_id = self._products((e.product_id for e in history), self.view())
        rows, now = [], time.time()
        for event in history:
            age = now - event.at
            decay = 0.5 ** (age / HALF_LIFE_SECONDS)
            weight = decay * INTEREST.get(event.kind, 1.0)
            what = product_title(by_id[event.product_id], lang) if event.product_id in by_id else (event.query or "")
            rows.append([event.id, text(f"event.{event.kind}", lang), what, age_text(age, lang), round(weight, 3)])
        return rows


def _reason(product: Product, seen: Sequence[Product]) -> Reason:
    """The first that holds: a viewed product of the same category, the usual colour, the usual price range."""
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
