"""Shopper events, the learned shopper model and personalisation, on real SQLite and the tiny CLIP."""

import sqlite3
import threading
import time
from collections import Counter

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
from engine.settings import Settings
from engine.shoppers import personal as personal_module
from engine.shoppers.events import EventStore
from engine.shoppers.model import ProductFeatures, ShopperModel
from engine.shoppers.personal import (
    LRU,
    NEIGHBOURS_PER_SUGGESTION,
    POPULAR_PER_SUGGESTION,
    Personaliser,
)
from engine.types import Query
from tests.conftest import write_catalogue


@pytest.fixture(scope="module")
def shop(bundled_settings):
    # Cross-shopper counts are differentially private (tests/test_privacy.py); here little noise, no
    # small threshold and no cached release, so a few shoppers' actions show and each call draws afresh.
    # Noise of scale 1/10 never lifts an unbought product over the threshold of 2 (at 3/10, one of the
    # 332 did in about one draw in five, and the cold-start test failed).
    shop = ShopLens(bundled_settings(top_k=10, privacy_min_count=2, privacy_epsilon=10, privacy_max_products=1,
                                     privacy_release_hours=0))  # fmt: skip
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


# --- serving costs O(k), not O(catalogue) -------------------------------------------------------
class StoreSpy:
    """Counts the product vectors and the neighbour searches the personaliser asks of the store."""

    def __init__(self, store, monkeypatch) -> None:
        self.read, self.asked = 0, []
        real_vectors, real_records, real_query = store.vectors, store.record_vectors, store.query

        def vectors(ids, kind):
            self.read += len(ids)
            return real_vectors(ids, kind)

        def record_vectors(records):
            self.read += len(records)
            return real_records(records)

        def query(vector, kind, n, where=None):
            self.asked.append(n)
            return real_query(vector, kind, n, where)

        monkeypatch.setattr(store, "vectors", vectors)
        monkeypatch.setattr(store, "record_vectors", record_vectors)
        monkeypatch.setattr(store, "query", query)

    def reset(self) -> None:
        self.read, self.asked = 0, []


@pytest.fixture
def no_catalogue_features(monkeypatch):
    """Fails the test if anything builds the features of the whole catalogue."""

    def refuse(cls, *args, **kwargs):
        raise AssertionError("ProductFeatures.build was called while serving")

    monkeypatch.setattr(ProductFeatures, "build", classmethod(refuse))


@pytest.fixture(scope="module", params=[12, 120])
def sized_shop(request, tmp_path_factory, clip_config_dir):
    """A shop of 12 or of 120 products: what serving reads must not grow with the catalogue."""
    folder = tmp_path_factory.mktemp(f"shop-{request.param}")
    settings = Settings(_env_file=None, data_dir=folder / "data", catalog=write_catalogue(folder, count=request.param),
                        clip_model="shoplens-tiny", clip_pretrained="none", clip_config_dir=clip_config_dir,
                        device="cpu", chroma_url=None, top_k=10)  # fmt: skip
    shop = ShopLens(settings)
    shop.start(speech=False)
    return shop


def test_for_you_and_rerank_read_vectors_for_a_pool_bounded_by_k(sized_shop, monkeypatch, no_catalogue_features):
    shop, personal, k = sized_shop, sized_shop.personal, 3
    personal.refresh()  # nothing cached: count every read
    shopper = f"pool-{time.time_ns()}"
    viewed = shop.engine.snapshot.lexical.ids[:4]
    for product_id in viewed:
        personal.record(shopper, "view", product_id=product_id)
    spy = StoreSpy(shop.store, monkeypatch)
    suggestions, cold = personal.for_you(shopper, k=k)
    assert not cold and len(suggestions) == k
    pool = (2 * NEIGHBOURS_PER_SUGGESTION + POPULAR_PER_SUGGESTION) * k  # the same bound at 12 and 120 products
    assert spy.read <= 2 * (len(viewed) + pool)  # image and text vectors of the history and the pool only
    assert spy.asked == [NEIGHBOURS_PER_SUGGESTION * k] * 2  # neighbours by image and by text

    hits = shop.search(Query(text="red", k=10)).pool
    spy.reset()
    reranked, reasons = personal.rerank(shopper, hits)
    assert spy.read <= 2 * len(hits) and spy.asked == []
    assert {h.product.id for h in reranked} == {h.product.id for h in hits} and set(reasons) == set(h.product.id for h in hits)
    assert "features" not in personal.__dict__  # the whole catalogue's rows were never built


def test_training_features_read_the_store_a_page_at_a_time(sized_shop, monkeypatch):
    shop, sizes = sized_shop, []
    monkeypatch.setattr(personal_module, "READ_PAGE", 5)
    for name in ("products", "vectors"):
        real = getattr(shop.store, name)
        monkeypatch.setattr(shop.store, name, lambda ids, *rest, real=real: sizes.append(len(ids)) or real(ids, *rest))
    shop.personal.refresh()
    features = shop.personal.features  # every product, for training: never in one call (Chroma refuses ~32k ids)
    assert len(features.ids) == shop.store.count() and max(sizes) <= 5
    shop.personal.refresh()


def test_rows_built_on_demand_equal_the_training_rows(shop):
    personal = shop.personal
    features = personal.features  # training and evaluation build every row at once
    assert features.width == personal.width  # so a trained model fits what serving builds
    some = features.products[::29]
    rows = personal.rows(some)
    for product in some:
        np.testing.assert_array_equal(rows.row(product.id), features.row(product.id))


def test_the_shopper_vector_is_computed_once_per_change_of_history(shop, monkeypatch):
    personal, calls = shop.personal, []
    real = personal_module.shopper_inputs
    monkeypatch.setattr(personal_module, "shopper_inputs", lambda *args: calls.append(1) or real(*args))
    shopper = f"steady-{time.time_ns()}"
    personal.record(shopper, "view", product_id="music-violin-red")
    first, _ = personal.inputs(shopper)
    personal.for_you(shopper, k=5)
    personal.for_you(shopper, k=5)
    personal.rerank(shopper, shop.search(Query(text="red", k=10)).pool)
    assert len(calls) == 1  # shown three times, computed once

    cart = personal.events.record(shopper, "cart", product_id="kitchen-teapot-red")
    changed, _ = personal.inputs(shopper)
    personal.for_you(shopper, k=5)
    assert len(calls) == 2 and not np.allclose(changed, first)
    personal.events.forget(shopper, cart)  # "forget this" changes the history too
    again, _ = personal.inputs(shopper)
    assert len(calls) == 3
    np.testing.assert_allclose(again, first, rtol=1e-5)  # recency weights are relative: time alone moves nothing


def test_query_vectors_are_kept_in_a_bounded_cache(shop, monkeypatch):
    personal, embedded = shop.personal, []
    monkeypatch.setattr(personal._query_vectors, "capacity", 3)
    real = shop.embedder.embed_texts
    monkeypatch.setattr(shop.embedder, "embed_texts", lambda texts: embedded.extend(texts) or real(texts))
    shopper = f"searcher-{time.time_ns()}"
    words = [f"gift {i} {shopper}" for i in range(5)]
    for word in words:
        personal.record_search(shopper, word, "text")
    personal.inputs(shopper)
    personal.inputs(shopper)
    assert sorted(embedded) == sorted(words)  # each embedded once, in one batch
    assert len(personal._query_vectors) == 3


def test_lru_forgets_the_least_recently_used_first():
    cache = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (1, None, 3, 2)


def test_cold_start_is_the_exact_top_k_by_popularity_then_rating(shop, no_catalogue_features):
    # Without a private release popularity comes from the event log: exact counts to compare with.
    personal = Personaliser(shop.store, shop.embedder, shop.events, shop.categories(), shop.colours(),
                            catalogue=lambda: shop.engine.snapshot.products)  # fmt: skip
    catalogue = shop.engine.snapshot.products
    by_rating = sorted(catalogue, key=lambda p: (p.rating or 0, p.id))
    buyers = [f"cold-{i}-{time.time_ns()}" for i in range(6)]
    try:
        for i, buyer in enumerate(buyers):  # low and middling ratings made popular, in different amounts
            for product in by_rating[i * 7 : i * 7 + 3] + by_rating[150 + i : 152 + i]:
                shop.events.record(buyer, "purchase" if i % 2 else "view", product_id=product.id)
        counts = shop.events.popularity()
        top = max(counts.values())
        expected = sorted(catalogue, key=lambda p: (-(counts[p.id] / top + (p.rating or 0) / 5), p.id))
        for k in (1, 5, 12, 40):
            suggestions, cold = personal.for_you(f"stranger-{time.time_ns()}", k=k)
            assert cold and [s.product.id for s in suggestions] == [p.id for p in expected[:k]], k
    finally:
        for buyer in buyers:
            shop.events.forget_shopper(buyer)


def test_a_snapshot_provider_replaces_store_lookups_and_owned_products_are_left_out(shop, monkeypatch):
    def make(**provider) -> Personaliser:
        return Personaliser(shop.store, shop.embedder, shop.events, shop.categories(), shop.colours(), **provider)

    by_catalogue = make(catalogue=lambda: shop.engine.snapshot.products)
    by_snapshot = make(snapshot=lambda: shop.engine.snapshot)
    shopper = f"owner-{time.time_ns()}"
    for product_id in ("music-violin-red", "music-cello-black"):
        shop.events.record(shopper, "view", product_id=product_id)
    shop.events.record(shopper, "purchase", product_id="music-trumpet-red")
    expected, _ = by_catalogue.for_you(shopper, k=12)
    looked_up = Counter()
    real = shop.store.products
    monkeypatch.setattr(shop.store, "products", lambda ids: looked_up.update(ids) or real(ids))
    suggestions, cold = by_snapshot.for_you(shopper, k=12)
    assert not cold and [s.product.id for s in suggestions] == [s.product.id for s in expected]
    assert "music-trumpet-red" not in {s.product.id for s in suggestions}  # bought already
    assert not looked_up  # products came from the snapshot, not the store


def test_the_learned_scorer_runs_w1_once_per_shopper_not_once_per_product(shop):
    features = shop.personal.features
    shopper = f"scored-{time.time_ns()}"
    shop.personal.record(shopper, "view", product_id="music-violin-red")
    shop.personal.record(shopper, "search", query="violin", modality="text")
    u, _ = shop.personal.inputs(shopper)
    torch.manual_seed(0)
    model = ShopperModel(features.width, features.clip_dim)
    seen = []
    model.w1.register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape)))
    rows, similarity = features.matrix[:40], np.linspace(0, 1, 40).astype(np.float32)
    scores = model.rank(u, rows, similarity)
    assert seen == [(1, len(u))]  # the shopper is not repeated per product
    with torch.no_grad():
        paired = torch.sigmoid(model.logits(torch.from_numpy(np.tile(u, (40, 1))), torch.from_numpy(rows),
                                            torch.from_numpy(similarity)))  # fmt: skip
    np.testing.assert_allclose(scores, paired.numpy(), rtol=1e-5, atol=1e-6)  # what training optimised
