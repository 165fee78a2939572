"""Shopper events, the learned shopper model and personalisation, on real SQLite and the tiny CLIP."""

import sqlite3
import threading
import time

import numpy as np
import pytest
import torch

from engine.recommend import (
    evaluate,
    examples,
    popularity_of,
    query_vectors,
    simulated_logs,
    train,
)
from engine.service import ShopLens
from engine.shoppers.events import EventStore
from engine.shoppers.model import ShopperModel
from engine.types import Query


@pytest.fixture(scope="module")
def shop(bundled_settings):
    # Cross-shopper counts are differentially private (tests/test_privacy.py); here little noise, no
    # small threshold and no cached release, so a few shoppers' actions show and each call draws afresh.
    shop = ShopLens(bundled_settings(top_k=10, privacy_min_count=2, privacy_epsilon=10, privacy_release_hours=0))
    shop.start(speech=False)
    return shop


# --- events ---------------------------------------------------------------------------------
def test_events_persist_across_restarts_and_forget_me_deletes_rows(tmp_path):
    path = tmp_path / "events.sqlite3"
    store = EventStore(path)
    first = store.record("alice", "view", product_id="p1")
    store.record("alice", "search", query="red shoes", modality="text")
    store.record("bob", "purchase", product_id="p1")
    reopened = EventStore(path)
    assert [e.kind for e in reopened.history("alice")] == ["search", "view"]
    assert reopened.forget("alice", first) and not reopened.forget("bob", first)
    assert [e.kind for e in reopened.history("alice")] == ["search"]
    assert reopened.forget_shopper("alice") == 1
    with sqlite3.connect(path) as raw:  # deleted from the database, not hidden
        assert raw.execute("SELECT COUNT(*) FROM events WHERE shopper = 'alice'").fetchone()[0] == 0
        assert raw.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1
    with pytest.raises(ValueError):
        reopened.record("alice", "like", product_id="p1")


def test_concurrent_writes_lose_nothing(tmp_path):
    store = EventStore(tmp_path / "events.sqlite3")
    errors = []

    def write(worker: int) -> None:
        try:
            for i in range(60):
                store.record(f"shopper-{worker}", "view", product_id=f"p{i}")
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and store.count() == 480
    assert all(store.count(f"shopper-{w}") == 60 for w in range(8))


def test_popularity_and_bought_together(tmp_path):
    store = EventStore(tmp_path / "events.sqlite3")
    for shopper in ("a", "b"):
        store.record(shopper, "purchase", product_id="tent")
        store.record(shopper, "cart", product_id="lantern")
    store.record("a", "purchase", product_id="stove")
    store.record("c", "view", product_id="stove")
    assert store.bought_together("tent") == ["lantern", "stove"]
    assert store.popularity()["tent"] == 10 and store.popularity()["stove"] == 6


# --- personalisation in the app -------------------------------------------------------------
def test_cold_start_shows_popular_and_highly_rated(shop):
    suggestions, cold = shop.personal.for_you("newcomer", k=5)
    assert cold and all(s.reason == ("reason.popular", {}) for s in suggestions)
    ratings = [s.product.rating for s in suggestions]
    assert ratings == sorted(ratings, reverse=True)  # nothing popular yet: the best rated first

    lowest = min(shop.personal.features.products, key=lambda p: (p.rating or 0, p.id))  # a 2.9-star bucket
    assert lowest.id not in [s.product.id for s in suggestions]
    buyers = [f"buyer-{i}-{time.time_ns()}" for i in range(3)]
    try:
        for buyer in buyers:  # other shoppers buy it: now it is the most popular product
            shop.personal.record(buyer, "purchase", product_id=lowest.id)
        popular, cold = shop.personal.for_you("another-newcomer", k=5)
        assert cold and popular[0].product.id == lowest.id  # popularity lifts a 2.9-star product to the top
        best_rated = sorted(shop.personal.features.products, key=lambda p: -(p.rating or 0))[:12]
        assert {s.product.id for s in popular[1:]} <= {p.id for p in best_rated}  # then the best rated, as before
    finally:
        for buyer in buyers:
            shop.events.forget_shopper(buyer)


def test_viewing_a_category_moves_it_up_for_you_and_in_search(shop):
    shopper = f"music-lover-{time.time_ns()}"
    before, _ = shop.personal.for_you(shopper, k=12)
    for product_id in ("music-violin-red", "music-cello-black", "music-trumpet-red"):
        shop.personal.record(shopper, "view", product_id=product_id)
    after, cold = shop.personal.for_you(shopper, k=12)
    music_before = sum(s.product.category == "music" for s in before)
    music_after = sum(s.product.category == "music" for s in after)
    assert not cold and music_after > music_before and music_after >= 6
    assert any(s.reason[0] == "reason.viewed" and s.reason[1]["product"].category == "music" for s in after)

    result = shop.search(Query(text="red", k=10))
    plain_rank = _mean_rank(result.pool, "music")
    reranked, reasons = shop.personal.rerank(shopper, result.pool)
    assert _mean_rank(reranked, "music") < plain_rank
    assert all(sum(h.breakdown.values()) == pytest.approx(h.score) for h in reranked)
    assert reasons and all(key.startswith("reason.") for key, _ in reasons.values())


def test_profile_lists_events_with_weight_and_age(shop):
    shopper = f"profiled-{time.time_ns()}"
    shop.personal.record(shopper, "search", query="teapot", modality="text")
    shop.personal.record(shopper, "purchase", product_id="kitchen-teapot-red")
    rows = shop.personal.profile(shopper)
    assert [row[1] for row in rows] == ["purchase", "search"]
    assert rows[0][2] == "Red Round Teapot" and rows[0][3] == "just now" and rows[0][4] == pytest.approx(5.0, abs=0.01)


# --- learning ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def logs(shop):
    training = simulated_logs(shop, personas=60, searches=8, seed=1)
    held_out = simulated_logs(shop, personas=25, searches=8, seed=2)
    queries = query_vectors(shop, training + held_out)
    return training, held_out, queries


def test_simulator_is_seeded_and_reproducible(shop):
    first = simulated_logs(shop, personas=5, searches=4, seed=9)
    again = simulated_logs(shop, personas=5, searches=4, seed=9)
    assert [(s.query, sorted(s.engaged)) for s in first] == [(s.query, sorted(s.engaged)) for s in again]
    assert any(s.engaged for s in first)


def test_training_reduces_loss_and_the_saved_model_reloads_to_identical_scores(shop, logs, tmp_path):
    training, _, queries = logs
    features = shop.personal.features
    data = examples(training, features, queries, seed=1)
    model, losses = train(data, features.matrix.shape[1], features.clip_dim, epochs=120)
    assert losses[-1] < 0.8 * losses[0]
    model.save(tmp_path / "model.pt", {"space": shop.embedder.space.model_id})
    reloaded, meta = ShopperModel.load(tmp_path / "model.pt")
    rows = features.matrix[:50]
    similarity = np.linspace(0, 1, 50).astype(np.float32)
    np.testing.assert_array_equal(model.rank(data.shoppers[0], rows, similarity), reloaded.rank(data.shoppers[0], rows, similarity))
    assert meta["space"] == shop.embedder.space.model_id


def test_learned_scorer_beats_the_baselines_on_held_out_personas(shop, logs):
    training, held_out, queries = logs
    features = shop.personal.features
    torch.manual_seed(0)
    model, _ = train(examples(training, features, queries, seed=1), features.matrix.shape[1], features.clip_dim)
    results = evaluate(model, held_out, features, queries, popularity_of(training))
    learned = results["learned scorer"]
    for baseline in ("query relevance", "popularity", "history average"):
        assert learned["nDCG@10"] > results[baseline]["nDCG@10"], baseline
        assert learned["Recall@10"] > results[baseline]["Recall@10"], baseline


def _mean_rank(hits, category) -> float:
    ranks = [i for i, hit in enumerate(hits) if hit.product.category == category]
    return sum(ranks) / len(ranks)


def test_app_uses_a_trained_model_when_it_fits_and_falls_back_otherwise(bundled_settings, logs):
    from engine.shoppers.personal import MODEL_FILE

    settings = bundled_settings(top_k=10)
    shop = ShopLens(settings)
    shop.start(speech=False)
    assert shop.personal.model is None  # nothing trained yet: the average-of-history scorer
    training, _, queries = logs
    features = shop.personal.features
    model, _ = train(examples(training[:100], features, queries, seed=1), features.matrix.shape[1], features.clip_dim,
                     epochs=5)  # fmt: skip
    model.save(settings.data_dir / MODEL_FILE, {"space": "open_clip:another-model:weights"})
    shop.personal.refresh()
    assert shop.personal.model is None  # trained for another index: refused, not misused
    model.save(settings.data_dir / MODEL_FILE, {"space": shop.embedder.space.model_id})
    shop.personal.refresh()
    assert isinstance(shop.personal.model, ShopperModel)
    shop.personal.record("someone", "view", product_id="music-violin-red")
    suggestions, cold = shop.personal.for_you("someone", k=5)
    assert not cold and len(suggestions) == 5
