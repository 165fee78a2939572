"""Learn and evaluate the shopper model on simulated interaction logs.

    python -m engine.recommend train       # simulate training logs, learn W1, W2, W3, save next to the index
    python -m engine.recommend evaluate    # held-out personas: learned scorer against three baselines

Training pairs come from every simulated search: the products the persona then viewed, carted or
bought are positives; products it looked over in the same result list but did not choose are the
negatives. Evaluation ranks each
held-out result list four ways and prints nDCG@10, Recall@10 and MRR against what the persona
engaged with: (a) the learned scorer, (b) query relevance only, (c) popularity in the training logs,
(d) cosine similarity to the average of the shopper's history.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import ShopLensError
from engine.evaluate import ndcg_at, recall_at, reciprocal_rank
from engine.service import ShopLens
from engine.settings import Settings
from engine.shoppers.model import ProductFeatures, ShopperModel, shopper_inputs
from engine.shoppers.personal import MODEL_FILE
from engine.shoppers.simulate import Search, make_personas, simulate

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
             popularity: Counter) -> dict[str, dict[str, float]]:  # fmt: skip
    index = features.index()
    width = features.matrix.shape[1]
    totals = {method: {"nDCG@10": 0.0, "Recall@10": 0.0, "MRR": 0.0} for method in METHODS}
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
        for method, values in scores.items():
            ranked = [pid for _, pid in sorted(zip(-values, candidates))]  # ties by id: no list-order leak
            totals[method]["nDCG@10"] += ndcg_at(ranked, relevant, 10)
            totals[method]["Recall@10"] += recall_at(ranked, relevant, 10)
            totals[method]["MRR"] += reciprocal_rank(ranked, relevant)
    return {method: {k: v / max(counted, 1) for k, v in metrics.items()} for method, metrics in totals.items()}


def popularity_of(searches: list[Search]) -> Counter:
    """How many searches led to engaging with each product, over the training logs."""
    return Counter(pid for search in searches for pid in search.engaged)


def simulated_logs(shop: ShopLens, personas: int, searches: int, seed: int) -> list[Search]:
    products = shop.engine.lexical.products
    return simulate(products, shop.engine.lexical, make_personas(products, personas, seed), searches, seed)


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
    path = settings.data_dir / MODEL_FILE
    try:
        shop.start(speech=False)
    except ShopLensError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    features = shop.personal.features
    training = simulated_logs(shop, args.personas, args.searches, seed=1)
    queries = query_vectors(shop, training)
    if args.command == "train":
        data = examples(training, features, queries, seed=1)
        model, losses = train(data, features.matrix.shape[1], features.clip_dim, epochs=args.epochs)
        model.save(path, {"space": shop.embedder.space.model_id, "products": len(features.ids)})
        print(f"trained on {len(data.labels)} pairs from {len(training)} searches: loss {losses[0]:.4f} -> {losses[-1]:.4f}")
        print(f"saved {path}")
        return 0
    if not path.exists():
        print(f"error: no trained model at {path}; run `python -m engine.recommend train` first", file=sys.stderr)
        return 2
    model, _ = ShopperModel.load(path)
    held_out = simulated_logs(shop, max(20, args.personas // 3), args.searches, seed=2)
    queries.update(query_vectors(shop, held_out))
    results = evaluate(model, held_out, features, queries, popularity_of(training))
    print(f"held-out sessions of {max(20, args.personas // 3)} unseen personas\n")
    print("| method | nDCG@10 | Recall@10 | MRR |\n|---|---|---|---|")
    for method, metrics in results.items():
        print(f"| {method} | {metrics['nDCG@10']:.3f} | {metrics['Recall@10']:.3f} | {metrics['MRR']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
