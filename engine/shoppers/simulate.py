"""A seeded shopper simulator: personas with hidden tastes who search, view, cart and buy.

Each persona secretly prefers a few categories, colours and brands and a price level; its utility for
a product is a weighted sum of those matches plus noise. In a session it searches for something in a
category it likes, scans the result list (query relevance from the real BM25 ranker), views products
with probability rising with utility and relevance, carts the ones it likes, and buys some of those.
The logs train the recommender; sessions of unseen personas evaluate it.

Given the products' review statistics, personas also read reviews: each trusts them to its own degree
and cares about two aspects (say size/fit and comfort), so a product whose reviews praise those gains
utility and one whose reviews complain about them ("runs small") loses it. Without review statistics
the simulation is exactly the review-blind one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.catalogue.products import Product
from engine.reviews.analysis import ASPECTS
from engine.search.lexical import LexicalIndex

CANDIDATES = 100
REVIEW_TASTES_SEED = 7919  # review tastes come from their own random stream: the review-blind personas stay as they were


@dataclass(frozen=True)
class ReviewSignal:
    """What a product's reviews tell a shopper: mean stars (1..5) and per-aspect scores (-1..1)."""

    stars: float
    aspects: Mapping[str, float]


@dataclass
class Persona:
    name: str
    categories: dict[str, float]
    colours: set[str]
    brands: set[str]
    price_centre: float  # log price the persona is comfortable with
    cares: dict[str, float] = field(default_factory=dict)  # aspect -> how much its reviews matter
    review_trust: float = 0.0

    def utility(self, product: Product, rng: random.Random, reviews: ReviewSignal | None = None) -> float:
        price_fit = math.exp(-((math.log1p(product.price) - self.price_centre) ** 2))
        return (
            2.0 * self.categories.get(product.category, 0.0) + 1.2 * (product.colour in self.colours)
            + 0.8 * price_fit + 0.6 * (product.brand in self.brands) + rng.gauss(0, 0.3)
            + self.review_utility(reviews)
        )  # fmt: skip

    def review_utility(self, reviews: ReviewSignal | None) -> float:
        if reviews is None:
            return 0.0
        liked = sum(weight * reviews.aspects.get(aspect, 0.0) for aspect, weight in self.cares.items())
        return self.review_trust * (0.5 * (reviews.stars - 3.5) + 1.5 * liked)


@dataclass
class SimEvent:
    kind: str  # search, view, cart, purchase
    product_id: str | None = None
    query: str | None = None


@dataclass
class Search:
    """One search of a session: what was shown, and what the persona then did with it."""

    query: str
    history: list[SimEvent]  # everything the shopper did before this search
    candidates: list[str]  # the result list, best query match first
    relevance: dict[str, float]  # query relevance of each candidate, 0..1
    engaged: set[str] = field(default_factory=set)  # viewed, carted or bought after this search


def make_personas(products: list[Product], count: int, seed: int) -> list[Persona]:
    rng = random.Random(seed)
    categories = sorted({p.category for p in products})
    colours = sorted({p.colour for p in products if p.colour})
    brands = sorted({p.brand for p in products if p.brand})
    personas = []
    for i in range(count):
        liked = rng.sample(categories, 2)
        personas.append(Persona(
            name=f"persona-{seed}-{i}", categories={liked[0]: 1.0, liked[1]: 0.6},
            colours=set(rng.sample(colours, 2)), brands=set(rng.sample(brands, 2)),
            price_centre=rng.uniform(math.log1p(10), math.log1p(300)),
        ))  # fmt: skip
    tastes = random.Random(seed + REVIEW_TASTES_SEED)
    for persona in personas:
        first, second = tastes.sample(ASPECTS, 2)
        persona.cares = {first: 1.0, second: 0.5}
        persona.review_trust = tastes.uniform(0.5, 1.5)
    return personas


def simulate(products: list[Product], lexical: LexicalIndex, personas: list[Persona], searches: int,
             seed: int, reviews: Mapping[str, ReviewSignal] | None = None) -> list[Search]:  # fmt: skip
    """Sessions of ``searches`` searches per persona; returns every search with its context.

    ``reviews``: what each product's reviews say, for personas who read them (None: nobody does).
    """
    rng = random.Random(seed)
    by_category: dict[str, list[Product]] = {}
    for product in products:
        by_category.setdefault(product.category, []).append(product)
    log: list[Search] = []
    for persona in personas:
        history: list[SimEvent] = []
        for _ in range(searches):
            category = rng.choices(list(persona.categories), weights=list(persona.categories.values()))[0]
            if rng.random() < 0.3:  # now and then a search outside the persona's tastes
                category = rng.choice(sorted(by_category))
            query = rng.choice(by_category[category]).title.split()[-1].lower()
            search = _result_list(query, products, lexical, rng)
            search.history = list(history)
            history.append(SimEvent("search", query=query))
            _browse(persona, search, {p.id: p for p in products}, history, rng, reviews or {})
            log.append(search)
    return log


def _result_list(query: str, products: list[Product], lexical: LexicalIndex, rng: random.Random) -> Search:
    scores = lexical.scores(query)
    best = max(scores.values(), default=1.0)
    ranked = sorted(scores, key=lambda pid: (-scores[pid], rng.random()))[:CANDIDATES]  # ties in random order
    filler = [p.id for p in rng.sample(products, len(products)) if p.id not in scores][: CANDIDATES - len(ranked)]
    relevance = {pid: scores.get(pid, 0.0) / best for pid in ranked + filler}
    return Search(query=query, history=[], candidates=ranked + filler, relevance=relevance)


def _browse(persona: Persona, search: Search, by_id: dict[str, Product], history: list[SimEvent],
            rng: random.Random, reviews: Mapping[str, ReviewSignal]) -> None:  # fmt: skip
    for position, pid in enumerate(search.candidates[:40]):
        utility = persona.utility(by_id[pid], rng, reviews.get(pid))
        attention = 1.0 / (1 + position / 8)  # shoppers look at the top of the list more
        if rng.random() < attention * _sigmoid(2.0 * utility + 2.0 * search.relevance[pid] - 4.0):
            history.append(SimEvent("view", product_id=pid))
            search.engaged.add(pid)
            if rng.random() < _sigmoid(2.0 * utility - 3.5):
                history.append(SimEvent("cart", product_id=pid))
                if rng.random() < 0.6:
                    history.append(SimEvent("purchase", product_id=pid))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
