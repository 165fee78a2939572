"""Privacy wired into the service: what ShopLens shows across shoppers goes through differential
privacy, and ShopLens.start() runs the retention sweep, then repeats it daily.

tests/test_privacy.py tests the mechanisms (Laplace noise, bounding, ShopperData). These tests go
through the methods the page and the API call (``open_product``, ``for_you``, ``product_reviews``,
``suggest``, ``act``, ``post_review``, ``start``/``stop``), so removing the wiring fails them.

**Noise cannot flip these results.** Unless a test says otherwise the settings are ε = 10, one
product per shopper (Δ = 1), minimum count 5. "Popular", "bought together" and popular searches
then get Laplace noise of scale b = Δ/ε = 0.1, and P[noise ≥ t] = ½·e^(−t/b):

- one shopper (true count ≤ 1) is shown only if the noise is ≥ 4: ½·e^(−40) ≈ 2·10⁻¹⁸ per product;
- ten shoppers (count 10) are hidden only if the noise is < −5: ½·e^(−50) ≈ 10⁻²²;
- with no data at all a product is shown only if the noise is ≥ 5: smaller still.

A review count gets half of ε, so b = 1/5 = 0.2: one review shows with probability ½·e^(−20) ≈
10⁻⁹, ten reviews are hidden with probability ½·e^(−25) ≈ 7·10⁻¹². Each test's own bounds are
given where it differs. No test reads the caller's ``SHOPLENS_*`` environment.
"""

from __future__ import annotations

import inspect
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from engine.catalogue.products import load_catalogue
from engine.service import ShopLens
from engine.settings import Settings
from engine.shoppers.events import Database, EventStore
from engine.shoppers.privacy import ShopperData
from tests.conftest import wait_until, write_catalogue

DAY = 24 * 3600.0
PRODUCTS = 40  # p000..p039; ratings 3.0 (i % 3 == 0), 3.5, 4.0 (i % 3 == 2)
LOW_RATED = "p003"  # rating 3.0: never in a cold start's top 5 unless it is popular
BASKET, PARTNER = "p001", "p006"  # "bought together": PARTNER with BASKET
PHRASE = "red shoe 0"  # a catalogue phrase: the 5th suggestion for "red" until it is a popular search
CROWD = 10  # shoppers doing the same thing
HEAVY = 20  # times one shopper repeats an action


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch) -> None:
    """The caller's SHOPLENS_* variables must not change what these tests see."""
    for name in list(os.environ):
        if name.upper().startswith("SHOPLENS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def make_shop_settings(tmp_path, clip_config_dir) -> Callable[..., Settings]:
    """Settings over a 40-product catalogue with the tiny CLIP; privacy and retention settings explicit."""
    catalogue = write_catalogue(tmp_path / "shop", count=PRODUCTS)

    def make(**overrides) -> Settings:
        values = dict(
            data_dir=tmp_path / "data", catalog=catalogue, clip_model="shoplens-tiny", clip_pretrained="none",
            clip_config_dir=clip_config_dir, device="cpu", batch_size=8, chroma_url=None, secret_key=None,
            index_on_start=True, offline="auto", reviews_in_product_model=True, retention_days=180,
            privacy_epsilon=10.0, privacy_max_products=1, privacy_min_count=5, privacy_release_hours=0,
        )  # fmt: skip
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture
def started() -> Iterator[Callable[..., ShopLens]]:
    """Start shops (no Whisper) and stop their retention sweeps afterwards."""
    shops: list[ShopLens] = []

    def start(settings: Settings, *, background: bool = False) -> ShopLens:
        shop = ShopLens(settings)
        shops.append(shop)
        shop.start(speech=False, background=background)
        if background:
            wait_until(lambda: shop.status().ready, what="the background start", timeout=300)
        return shop

    yield start
    for shop in shops:
        shop.stop()


def cold_start(shop: ShopLens, k: int = 5) -> list[str]:
    recommendations = shop.for_you("a-newcomer", k=k)
    assert recommendations.cold
    return [r.product.id for r in recommendations.items]


def best_rated(settings: Settings, k: int = 5) -> list[str]:
    """The cold start when nothing is popular: best rated first, ties by id."""
    products = load_catalogue(settings.catalog).products
    return [p.id for p in sorted(products, key=lambda p: (-(p.rating or 0.0), p.id))[:k]]


def bought_with(shop: ShopLens, product_id: str) -> list[str]:
    return [p.id for p in shop.open_product(product_id, shopper="a-viewer").bought_together]


def review_counts(shop: ShopLens) -> dict[str, tuple[int, float | None]]:
    return {f"p{i:03d}": (view.count, view.stars) for i in range(PRODUCTS)
            if (view := shop.product_reviews(f"p{i:03d}")).count}  # fmt: skip


# --- retention ------------------------------------------------------------------------------------
def raw_pairing_codes(settings: Settings) -> set[str]:
    with sqlite3.connect(settings.data_dir / "events.sqlite3") as db:
        return {row[0] for row in db.execute("SELECT code FROM pairing_codes")}


@pytest.mark.parametrize(("days", "background"), [(180, False), (30, True)], ids=["default-days", "30-days-background"])
def test_start_deletes_events_older_than_the_retention_window(make_shop_settings, started, days, background):
    settings = make_shop_settings(retention_days=days)
    database = Database.from_settings(settings)  # the shopper database the shop will open
    events, now = EventStore(database), time.time()
    for shopper in ("old-timer", "regular"):
        events.record(shopper, "search", query="red shoes", modality="text", at=now - (days + 1) * DAY)
        events.record(shopper, "purchase", product_id="p001", at=now - (days + 30) * DAY)
        events.record(shopper, "view", product_id="p002", at=now - (days - 1) * DAY)
    events.record("regular", "cart", product_id="p004", at=now - 60)
    with database.connect() as db:  # a pairing code that lapsed, and one still open
        db.execute("INSERT INTO pairing_codes (code, device, expires) VALUES ('LAPSED01', 'old-timer', ?)", (now - 60,))
        db.execute("INSERT INTO pairing_codes (code, device, expires) VALUES ('OPEN0001', 'regular', ?)", (now + 600,))
    assert events.count() == 7

    shop = started(settings, background=background)

    assert [(e.kind, e.product_id) for e in shop.events.history("old-timer")] == [("view", "p002")]
    assert [(e.kind, e.product_id) for e in shop.events.history("regular")] == [("cart", "p004"), ("view", "p002")]
    assert shop.events.count() == 3
    assert raw_pairing_codes(settings) == {"OPEN0001"}


def test_retention_runs_even_when_the_catalogue_cannot_be_prepared(make_shop_settings, started, tmp_path):
    """A background start whose catalogue fails (here: the file is gone) still deletes old events."""
    settings = make_shop_settings(catalog=tmp_path / "missing.csv")
    events = EventStore(Database.from_settings(settings))
    events.record("old-timer", "view", product_id="p001", at=time.time() - 400 * DAY)
    events.record("regular", "view", product_id="p002", at=time.time() - 60)
    shop = started(settings, background=True)
    assert [e.product_id for e in shop.events.history("old-timer")] == []
    assert [e.product_id for e in shop.events.history("regular")] == ["p002"]


def test_retention_days_zero_keeps_every_event_at_start(make_shop_settings, started):
    settings = make_shop_settings(retention_days=0)
    events = EventStore(Database.from_settings(settings))
    events.record("old-timer", "view", product_id="p001", at=time.time() - 3650 * DAY)
    shop = started(settings)
    assert shop.events.count() == 1


class Clock:
    """A wall clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def retention_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "shoplens-retention"}


def test_the_service_repeats_the_sweep_daily_until_stopped(make_shop_settings, monkeypatch):
    """start() asks for a sweep every day; the sweep really repeats (run here every 20 ms, on a clock the
    test moves by two days), and stop() ends it. No test waits a day."""
    settings = make_shop_settings(retention_days=180)
    shop = ShopLens(settings)
    clock = Clock(time.time())
    data = ShopperData(shop.database, settings, clock=clock)
    monkeypatch.setattr(shop, "shopper_data", data)  # the service's own ShopperData, on the test's clock
    asked: list[float] = []
    real_start = data.start_retention

    def start_retention(*args, **kwargs) -> threading.Event:
        call = inspect.signature(real_start).bind(*args, **kwargs)
        call.apply_defaults()
        asked.append(call.arguments["every"])  # the interval the service asked for
        return real_start(every=0.02)

    monkeypatch.setattr(data, "start_retention", start_retention)
    events = EventStore(shop.database)
    events.record("shopper", "view", product_id="p001", at=clock.now - 181 * DAY)  # gone at start
    events.record("shopper", "view", product_id="p002", at=clock.now - 179 * DAY)  # too old two days later
    events.record("shopper", "view", product_id="p003", at=clock.now - 60)  # kept
    before = retention_threads()
    sweeps: set[threading.Thread] = set()
    try:
        shop.start(speech=False)
        sweeps = retention_threads() - before
        assert asked == [DAY]  # once, and daily
        assert [e.product_id for e in events.history("shopper")] == ["p003", "p002"]  # the sweep at start
        shop.start(speech=False)  # started again: still one sweep
        assert asked == [DAY] and retention_threads() - before == sweeps

        clock.now += 2 * DAY  # two days on: the next sweeps delete what has grown too old
        wait_until(lambda: [e.product_id for e in events.history("shopper")] == ["p003"], what="a later sweep")
        events.record("shopper", "view", product_id="p004", at=clock.now - 182 * DAY)
        wait_until(lambda: events.count("shopper") == 1, what="another later sweep")

        assert len(sweeps) == 1
    finally:
        shop.stop()
    wait_until(lambda: not any(t.is_alive() for t in sweeps), what="the sweep to stop")


def test_a_failed_sweep_does_not_end_the_schedule(make_shop_settings, monkeypatch):
    settings = make_shop_settings(retention_days=180)
    clock = Clock(time.time())
    data = ShopperData(Database.from_settings(settings), settings, clock=clock)
    events = EventStore(data.database)
    runs: list[str] = []
    real_apply = data.apply_retention

    def apply_retention() -> int:
        runs.append("run")
        if len(runs) == 2:
            raise sqlite3.OperationalError("database is locked")
        return real_apply()

    monkeypatch.setattr(data, "apply_retention", apply_retention)
    stop = data.start_retention(every=0.02)
    try:
        wait_until(lambda: len(runs) >= 3, what="a sweep after the failed one")
        events.record("shopper", "view", product_id="p001", at=clock.now - 200 * DAY)
        wait_until(lambda: events.count() == 0, what="the old event to be swept")
    finally:
        stop.set()


# --- differential privacy on what shoppers see of each other ---------------------------------------
def test_one_shopper_cannot_make_a_product_popular_or_bought_together(make_shop_settings, started):
    settings = make_shop_settings()
    shop = started(settings)
    assert cold_start(shop) == best_rated(settings)
    assert bought_with(shop, BASKET) == []
    plain_suggestions = shop.suggest("red", k=8)
    assert plain_suggestions.index(PHRASE) == 4

    for _ in range(HEAVY):  # one shopper, over and over: exact counts would put these at the top
        shop.act("purchase", LOW_RATED, shopper="heavy")
        shop.act("purchase", BASKET, shopper="heavy")
        shop.act("purchase", PARTNER, shopper="heavy")
    for i in range(HEAVY):
        shop.events.record("heavy", "search", query="Red Shoe 0", modality="text", at=time.time() - i)

    assert cold_start(shop) == best_rated(settings)
    assert bought_with(shop, BASKET) == [] and bought_with(shop, PARTNER) == []
    assert shop.suggest("red", k=8) == plain_suggestions


def test_many_shoppers_make_it_show(make_shop_settings, started):
    shop = started(make_shop_settings())
    for i in range(CROWD):
        shopper = f"crowd-{i}"
        shop.act("purchase", LOW_RATED, shopper=f"fan-{i}")
        shop.act("cart", BASKET, shopper=shopper)
        shop.act("purchase", PARTNER, shopper=shopper)
        assert shop.personal.record_search(shopper, "Red Shoe 0", "text")

    # Popularity lifts two 3-star products above the 4-star ones: LOW_RATED (its fans) and PARTNER (each
    # crowd shopper's strongest interest, a purchase); which of the two leads is up to the noise.
    assert set(cold_start(shop)[:2]) == {LOW_RATED, PARTNER}
    assert bought_with(shop, BASKET) == [PARTNER]
    assert shop.suggest("red", k=8)[0] == PHRASE


def test_a_high_minimum_count_hides_even_a_crowd(make_shop_settings, started):
    settings = make_shop_settings(privacy_min_count=1000)  # ten shoppers' count is 1000 − 10 below it
    shop = started(settings)
    plain_suggestions = shop.suggest("red", k=8)
    for i in range(CROWD):
        shopper = f"crowd-{i}"
        shop.act("purchase", LOW_RATED, shopper=f"fan-{i}")
        shop.act("cart", BASKET, shopper=shopper)
        shop.act("purchase", PARTNER, shopper=shopper)
        shop.personal.record_search(shopper, "Red Shoe 0", "text")
        shop.post_review(shopper, BASKET, 5, "Very comfortable and great quality, I love it.")

    assert cold_start(shop) == best_rated(settings)
    assert bought_with(shop, BASKET) == []
    assert shop.suggest("red", k=8) == plain_suggestions
    shown = shop.product_reviews(BASKET)
    assert (shown.count, shown.stars, shown.summary) == (0, None, "")
    assert len(shown.items) == CROWD  # the reviews themselves are still listed; only the aggregate is withheld


@pytest.mark.parametrize("max_products", [1, 2])
def test_the_per_shopper_bound_reaches_bought_together(make_shop_settings, started, max_products):
    """Each shopper bought BASKET, then p010, then PARTNER (newest): with a bound of one product per
    shopper only PARTNER is counted. At Δ = 2, b = 0.2: a count of 10 hides with P ≈ ½·e^(−25)."""
    shop = started(make_shop_settings(privacy_max_products=max_products))
    now = time.time()
    for i in range(CROWD):
        for offset, product_id in enumerate((BASKET, "p010", PARTNER)):
            shop.events.record(f"crowd-{i}", "purchase", product_id=product_id, at=now + offset)
    assert sorted(bought_with(shop, BASKET)) == sorted([PARTNER, "p010"][:max_products])


def test_one_review_does_not_move_the_shown_aggregate_but_many_do(make_shop_settings, started):
    shop = started(make_shop_settings())
    assert review_counts(shop) == {}

    shop.post_review("lone-critic", BASKET, 1, "Terrible quality, it broke on the first day and runs small.")
    shown = shop.product_reviews(BASKET)
    assert (shown.count, shown.stars, shown.summary) == (0, None, "")
    assert [item.stars for item in shown.items] == [1]  # listed, but not counted in what is shown

    for i in range(CROWD):
        shop.post_review(f"fan-{i}", BASKET, 5, "Very comfortable and great quality, I love it.")
    shown = shop.product_reviews(BASKET)
    # 11 reviews, noise of scale 0.2 on the count: |noise| ≥ 4 has P = e^(−20). The centred star sum
    # (Σ(stars − 3) = 18, noise of scale 2/(ε/4) = 0.8) stays positive unless the noise is ≤ −18: ½·e^(−22.5).
    assert 7 <= shown.count <= 15 and shown.stars is not None and shown.stars > 3
    assert set(review_counts(shop)) == {BASKET}


def test_epsilon_reaches_the_lists(make_shop_settings, started):
    """With ε = 0.01 the noise (scale 100 for the lists, 200 for review counts) is far above the minimum
    count of 5, so with no shopper data at all noise alone puts products on the page. Each of the 39
    candidates for "bought together" passes with P = ½·e^(−0.05) ≈ 0.48, so none does with P ≈ 10⁻¹¹;
    none of 40 review counts passes with P ≈ 0.51⁴⁰ ≈ 2·10⁻¹². At ε = 10 nothing shows (the tests above)."""
    shop = started(make_shop_settings(privacy_epsilon=0.01))
    assert bought_with(shop, BASKET) != []
    assert review_counts(shop) != {}


def test_a_release_is_reused_not_redrawn_per_page_view(make_shop_settings, started):
    """A fresh draw per view would let anyone average the noise away. At ε = 0.01 (noise scale 100)
    two independent draws of eight of 39 products in order, or of 40 noisy review counts, agree with
    a probability below 10⁻¹⁰; within one release they must agree exactly."""
    shop = started(make_shop_settings(privacy_epsilon=0.01, privacy_release_hours=24))
    together, reviews, cold = bought_with(shop, BASKET), review_counts(shop), cold_start(shop, k=12)
    assert together and reviews
    for i in range(CROWD):  # new events change nothing until the release expires
        shop.act("purchase", BASKET, shopper=f"crowd-{i}")
        shop.act("purchase", PARTNER, shopper=f"crowd-{i}")
    assert bought_with(shop, BASKET) == together
    assert review_counts(shop) == reviews
    assert cold_start(shop, k=12) == cold
