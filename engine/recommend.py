"""Learn and evaluate the shopper model on simulated interaction logs.

    python -m engine.recommend train       # simulate training logs, learn W1, W2, W3, save next to the index
    python -m engine.recommend evaluate    # held-out personas: learned scorer against three baselines

Training pairs come from every simulated search: the products the persona then viewed, carted or
bought are positives; products it looked over in the same result list but did not choose are the
negatives. Evaluation ranks each
held-out result list four ways and prints nDCG@10, Recall@10 and MRR against what the persona
engaged with: (a) the learned scorer, (b) query relevance only, (c) popularity in the training logs,
(d) cosine similarity to the average of the shopper's history.

Reviews: the simulated shoppers read the products' review statistics (as released to shoppers, see
:mod:`engine.reviews.summary`), and ``train`` learns two scorers on the same logs, one whose product
vector G has the review block and one without it. The app uses the one ``SHOPLENS_REVIEWS_IN_PRODUCT_MODEL``
asks for (``recommender.pt``); the other is saved beside it, and ``evaluate`` shows both.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.errors import ShopLensError
from engine.evaluate import ndcg_at, recall_at, reciprocal_rank
from engine.reviews.desk import ReviewDesk
from engine.service import ShopLens
from engine.settings import Settings
from engine.shoppers.model import ProductFeatures, ShopperModel, shopper_inputs
from engine.shoppers.personal import MODEL_FILE
from engine.shoppers.simulate import ReviewSignal, Search, make_personas, simulate

log = logging.getLogger(__name__)
NEGATIVES_PER_POSITIVE = 6
BROWSED = 40  # how far down a result list simulated shoppers look
METHODS = ("learned scorer", "query relevance", "popularity", "history average")


@dataclass
class Examples:
    shoppers: np.ndarray
    products: np.ndarray
    similarity: np.ndarray
    labels: np.ndarray


def query_vectors(shop: ShopLens, searches: list[Search]) -> dict[str, np.ndarray]:
    texts = sorted({s.query for s in searches} | {e.query for s in searches for e in s.history if e.query})
    return dict(zip(texts, shop.embedder.embed_texts(texts)))


def history_inputs(search: Search, features: ProductFeatures, queries: dict[str, np.ndarray]) -> np.ndarray:
    n = len(search.history)
    events = [(e.kind, e.product_id, queries.get(e.query) if e.query else None, float(n - i))
              for i, e in enumerate(search.history)]  # fmt: skip
    return shopper_inputs(features, events)


def examples(searches: list[Search], features: ProductFeatures, queries: dict[str, np.ndarray], seed: int) -> Examples:
    rng = random.Random(seed)
    index = features.index()
    shoppers, products, similarity, labels = [], [], [], []
    for search in searches:
        positives = [pid for pid in search.candidates if pid in search.engaged and pid in index]
        if not positives:
            continue
        seen = search.candidates[:BROWSED]  # shown and looked over, yet not chosen: the telling negatives
        others = [pid for pid in seen if pid not in search.engaged and pid in index]
        negatives = rng.sample(others, min(len(others), NEGATIVES_PER_POSITIVE * len(positives)))
        u = history_inputs(search, features, queries)
        for pid, label in [(p, 1.0) for p in positives] + [(p, 0.0) for p in negatives]:
            shoppers.append(u)
            products.append(features.matrix[index[pid]])
            similarity.append(search.relevance[pid])
            labels.append(label)
    return Examples(np.stack(shoppers), np.stack(products), np.asarray(similarity, np.float32), np.asarray(labels, np.float32))


def train(data: Examples, product_dim: int, query_dim: int, epochs: int = 800, seed: int = 0) -> tuple[ShopperModel, list[float]]:
    """Full-batch Adam on binary cross-entropy; returns the model and the loss of every epoch."""
    torch.manual_seed(seed)
    model = ShopperModel(product_dim, query_dim)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-5)
    tensors = [torch.from_numpy(a) for a in (data.shoppers, data.products, data.similarity, data.labels)]
    losses = []
    model.train()
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model.logits(*tensors[:3]), tensors[3])
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    model.eval()
    return model, losses


def evaluate(model: ShopperModel, searches: list[Search], features: ProductFeatures, queries: dict[str, np.ndarray],
             popularity: Counter,
             variants: Mapping[str, tuple[ShopperModel, ProductFeatures]] | None = None) -> dict[str, dict[str, float]]:  # fmt: skip
    """Metrics per method; ``variants`` are further learned scorers, each with its own product features."""
    variants = variants or {}
    index = features.index()
    width = features.matrix.shape[1]
    totals = {method: {"nDCG@10": 0.0, "Recall@10": 0.0, "MRR": 0.0} for method in (*METHODS, *variants)}
    counted = 0
    for search in searches:
        candidates = [pid for pid in search.candidates if pid in index]
        relevant = search.engaged & set(candidates)
        if not relevant or not any(e.product_id for e in search.history):
            continue
        counted += 1
        rows = features.matrix[[index[pid] for pid in candidates]]
        relevance = np.asarray([search.relevance[pid] for pid in candidates], np.float32)
        u = history_inputs(search, features, queries)
        history = u[: width] + u[width : 2 * width]  # browse and purchase means
        cosine = rows @ history / (np.linalg.norm(rows, axis=1) * np.linalg.norm(history) + 1e-9)
        scores = {
            "learned scorer": model.rank(u, rows, relevance),
            "query relevance": relevance,
            "popularity": np.asarray([popularity[pid] for pid in candidates], np.float32) + 1e-3 * relevance,
            "history average": cosine,
        }
        for name, (variant, own) in variants.items():
            own_rows = own.matrix[[own.index()[pid] for pid in candidates]]
            scores[name] = variant.rank(history_inputs(search, own, queries), own_rows, relevance)
        for method, values in scores.items():
            ranked = [pid for _, pid in sorted(zip(-values, candidates))]  # ties by id: no list-order leak
            totals[method]["nDCG@10"] += ndcg_at(ranked, relevant, 10)
            totals[method]["Recall@10"] += recall_at(ranked, relevant, 10)
            totals[method]["MRR"] += reciprocal_rank(ranked, relevant)
    return {method: {k: v / max(counted, 1) for k, v in metrics.items()} for method, metrics in totals.items()}


def popularity_of(searches: list[Search]) -> Counter:
    """How many searches led to engaging with each product, over the training logs."""
    return Counter(pid for search in searches for pid in search.engaged)


def simulated_logs(shop: ShopLens, personas: int, searches: int, seed: int,
                   reviews: Mapping[str, ReviewSignal] | None = None) -> list[Search]:  # fmt: skip
    products = shop.engine.lexical.products
    return simulate(products, shop.engine.lexical, make_personas(products, personas, seed), searches, seed, reviews)


def review_signals(desk: ReviewDesk) -> dict[str, ReviewSignal]:
    """What simulated shoppers read in each reviewed product's released review statistics."""
    lexicon = desk.analyser.lexicon
    return {pid: ReviewSignal(s.stars or 3.0, s.aspect_scores(lexicon)) for pid, s in desk.stats().items()}


def product_features(shop: ShopLens, desk: ReviewDesk) -> ProductFeatures:
    """The app's product features with the review block of G added."""
    plain = shop.personal.features
    ids = plain.ids
    return ProductFeatures.build(plain.products, shop.store.vectors(ids, "image"), shop.store.vectors(ids, "text"),
                                 shop.categories(), shop.colours(), desk.features(ids))  # fmt: skip


def model_path(settings: Settings, with_reviews: bool) -> Path:
    """Where a variant is saved: the app's file for the configured one, a file beside it for the other."""
    if with_reviews == settings.reviews_in_product_model:
        return settings.data_dir / MODEL_FILE
    return settings.data_dir / f"recommender-{'with' if with_reviews else 'without'}-reviews.pt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.recommend", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["train", "evaluate"])
    parser.add_argument("--personas", type=int, default=250)
    parser.add_argument("--searches", type=int, default=10, help="searches per persona")
    parser.add_argument("--epochs", type=int, default=800)
    args = parser.parse_args(argv)
    settings = Settings()
    logging.basicConfig(level=logging.WARNING)
    shop = ShopLens(settings)
    try:
        shop.start(speech=False)
    except ShopLensError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    desk = ReviewDesk(settings, shop.embedder, shop.store)
    variants = {False: shop.personal.features, True: product_features(shop, desk)}
    signals = review_signals(desk)
    training = simulated_logs(shop, args.personas, args.searches, seed=1, reviews=signals)
    queries = query_vectors(shop, training)
    if args.command == "train":
        for with_reviews, features in variants.items():
            data = examples(training, features, queries, seed=1)
            model, losses = train(data, features.matrix.shape[1], features.clip_dim, epochs=args.epochs)
            path = model_path(settings, with_reviews)
            model.save(path, {"space": shop.embedder.space.model_id, "products": len(features.ids),
                              "review_features": with_reviews})  # fmt: skip
            label = "with" if with_reviews else "without"
            print(f"{label} review features: trained on {len(data.labels)} pairs from {len(training)} searches: "
                  f"loss {losses[0]:.4f} -> {losses[-1]:.4f}, saved {path}")  # fmt: skip
        return 0
    paths = {with_reviews: model_path(settings, with_reviews) for with_reviews in variants}
    if not all(path.exists() for path in paths.values()):
        print(f"error: no trained models at {paths[True]} and {paths[False]}; run `python -m engine.recommend train` first",
              file=sys.stderr)  # fmt: skip
        return 2
    plain, _ = ShopperModel.load(paths[False])
    reviewed, _ = ShopperModel.load(paths[True])
    held_out = simulated_logs(shop, max(20, args.personas // 3), args.searches, seed=2, reviews=signals)
    queries.update(query_vectors(shop, held_out))
    with_name = "learned scorer, with review features"
    results = evaluate(plain, held_out, variants[False], queries, popularity_of(training),
                       {with_name: (reviewed, variants[True])})  # fmt: skip
    print(f"held-out sessions of {max(20, args.personas // 3)} unseen personas who read reviews\n")
    print("| method | nDCG@10 | Recall@10 | MRR |\n|---|---|---|---|")
    names = {"learned scorer": "learned scorer, without review features"}
    for method in [with_name, *METHODS]:
        metrics = results[method]
        print(f"| {names.get(method, method)} | {metrics['nDCG@10']:.3f} | {metrics['Recall@10']:.3f} | {metrics['MRR']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
