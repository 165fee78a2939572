"""Privacy that holds: encryption at rest, key rotation, export, forget me, retention, differential privacy.

The database tests read the raw SQLite files (main file and write-ahead log) byte by byte: what is
gone or encrypted must not be there, whatever the SQL says.
"""

import base64
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from cryptography.fernet import Fernet

from engine.reviews.analysis import Analysis, Lexicon
from engine.reviews.store import Review, ReviewStore
from engine.reviews.summary import Tally, release
from engine.reviews.summary import tallies as review_tallies
from engine.settings import Settings
from engine.shoppers import keys
from engine.shoppers.events import Database, EventStore
from engine.shoppers.keys import UNREADABLE, FieldCipher
from engine.shoppers.pairing import Pairing
from engine.shoppers.privacy import (
    Laplace,
    PrivateStats,
    ShopperData,
    bounded_co_purchases,
    bounded_interest,
    log_likelihood_ratio,
    shown,
)

DAY = 86400.0
LEXICON = Lexicon.load()
SECRETS = ("crimson velvet slippers", "the buckle snapped on my second walk", "buckle snapped second walk said aloud")


def raw_bytes(path: Path) -> bytes:
    """Everything SQLite keeps on disk for the database: main file, write-ahead log, shared memory."""
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


def settings_for(tmp_path: Path, **overrides) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", **overrides)


def write_private_things(database: Database, shopper: str = "shopper-7f3a") -> ReviewStore:
    EventStore(database).record(shopper, "search", query=SECRETS[0], modality="voice")
    EventStore(database).record(shopper, "purchase", product_id="slippers")
    reviews = ReviewStore(database, database.path.parent, database.path.parent)
    reviews.post(shopper, "slippers", 2, SECRETS[1], "en", transcript=SECRETS[2])
    return reviews


# --- encryption at rest ------------------------------------------------------------------------
def test_with_a_key_texts_are_ciphertext_in_the_raw_file_and_unreadable_without_it(tmp_path):
    key = Fernet.generate_key().decode()
    settings = settings_for(tmp_path, secret_key=key)
    database = Database.from_settings(settings)
    reviews = write_private_things(database)
    raw = raw_bytes(database.path)
    assert all(secret.encode() not in raw for secret in SECRETS)
    assert raw.count(keys.PREFIX.encode()) >= 3

    assert EventStore(database).history("shopper-7f3a")[-1].query == SECRETS[0]  # with the key: readable
    mine = reviews.for_product("slippers")[0]
    assert (mine.text, mine.transcript) == (SECRETS[1], SECRETS[2])

    keyless = Database(database.path)  # the same file without the key
    assert EventStore(keyless).history("shopper-7f3a")[-1].query == UNREADABLE
    assert ReviewStore(keyless, tmp_path, tmp_path).for_product("slippers")[0].text == UNREADABLE
    wrong = Database(database.path, FieldCipher(Fernet.generate_key().decode()))
    assert EventStore(wrong).history("shopper-7f3a")[-1].query == UNREADABLE


def test_without_a_key_texts_are_stored_as_written(tmp_path):
    database = Database.from_settings(settings_for(tmp_path))
    write_private_things(database)
    database.checkpoint()
    assert SECRETS[0].encode() in raw_bytes(database.path)  # the control for the test above


def test_rotating_the_key_reencrypts_everything_and_a_wrong_old_key_changes_nothing(tmp_path, capsys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    database = Database(tmp_path / "events.sqlite3", FieldCipher(old))
    write_private_things(database)
    assert keys.main(["rotate", f"--old={Fernet.generate_key().decode()}", f"--new={new}", "--database", str(database.path)]) == 2
    assert EventStore(database).history("shopper-7f3a")[-1].query == SECRETS[0]  # untouched by the failed rotation

    assert keys.main(["rotate", f"--old={old}", f"--new={new}", "--database", str(database.path)]) == 0  # a key may start with "-"
    assert "re-encrypted 3 values" in capsys.readouterr().out
    assert EventStore(Database(database.path, FieldCipher(new))).history("shopper-7f3a")[-1].query == SECRETS[0]
    assert EventStore(database).history("shopper-7f3a")[-1].query == UNREADABLE  # the old key no longer opens it
    assert all(secret.encode() not in raw_bytes(database.path) for secret in SECRETS)


def test_rotation_from_no_key_encrypts_a_plain_database(tmp_path):
    database = Database(tmp_path / "events.sqlite3")
    write_private_things(database)
    key = base64.urlsafe_b64encode(b"\xf8" + bytes(range(31))).decode()  # a valid key that begins with "-"
    assert key.startswith("-")
    assert keys.main(["rotate", "--old=", f"--new={key}", "--database", str(database.path)]) == 0
    assert all(secret.encode() not in raw_bytes(database.path) for secret in SECRETS)
    assert EventStore(Database(database.path, FieldCipher(key))).history("shopper-7f3a")[-1].query == SECRETS[0]
    assert keys.main(["generate"]) == 0


# --- export and forget me ------------------------------------------------------------------------
def test_export_holds_every_event_and_review_of_the_shopper_decrypted(tmp_path):
    settings = settings_for(tmp_path, secret_key=Fernet.generate_key().decode())
    database = Database.from_settings(settings)
    write_private_things(database)
    EventStore(database).record("someone-else", "view", product_id="slippers")
    exported = json.loads(ShopperData(database, settings).export_json("shopper-7f3a"))
    assert [(e["kind"], e["query"]) for e in exported["events"]] == [("search", SECRETS[0]), ("purchase", None)]
    assert [(r["stars"], r["text"], r["voice_transcript"]) for r in exported["reviews"]] == [(2, SECRETS[1], SECRETS[2])]
    assert exported["shopper"] == "shopper-7f3a" and exported["helpful_votes"] == []


@pytest.mark.parametrize("choice", ["delete", "anonymise"])
def test_forget_me_removes_the_shopper_from_the_raw_file(tmp_path, choice):
    settings = settings_for(tmp_path)
    database = Database.from_settings(settings)
    reviews = write_private_things(database)
    EventStore(database).record("shopper-7f3a-phone", "view", product_id="socks")
    pairing = Pairing(database)
    pairing.join("shopper-7f3a-phone", pairing.start("shopper-7f3a").code)  # forgetting one device forgets the person
    other = reviews.post("neighbour", "slippers", 5, "lovely and warm", "en")[0]
    reviews.vote("shopper-7f3a", other)

    forgotten = ShopperData(database, settings).forget("shopper-7f3a-phone", reviews=choice)

    assert forgotten.events == 3 and forgotten.votes == 1 and forgotten.devices == 2
    raw = raw_bytes(database.path)
    assert b"shopper-7f3a" not in raw and SECRETS[0].encode() not in raw and SECRETS[2].encode() not in raw
    left = {r.text: r for r in reviews.for_product("slippers")}
    if choice == "delete":
        assert forgotten.reviews_deleted == 1 and SECRETS[1].encode() not in raw and set(left) == {"lovely and warm"}
    else:  # the review stays, tied to no one
        assert forgotten.reviews_anonymised == 1 and left[SECRETS[1]].author == "a shopper"
        assert left[SECRETS[1]].contributor is None and left[SECRETS[1]].transcript is None
    assert left["lovely and warm"].helpful == 0  # the forgotten shopper's vote went too
    assert EventStore(database).history("shopper-7f3a") == [] and pairing.devices("shopper-7f3a") == ["shopper-7f3a"]
    assert ShopperData(database, settings).export("shopper-7f3a")["reviews"] == []
    assert EventStore(database).count() == 0 and len(reviews.all()) == 2 - (choice == "delete")


# --- retention -------------------------------------------------------------------------------------
def test_retention_deletes_events_older_than_the_limit_at_start(tmp_path):
    settings = settings_for(tmp_path, retention_days=180)
    database = Database.from_settings(settings)
    events = EventStore(database)
    now = 1_800_000_000.0
    events.record("a", "view", product_id="old", at=now - 181 * DAY)
    events.record("a", "view", product_id="recent", at=now - 179 * DAY)
    data = ShopperData(database, settings, clock=lambda: now)
    stop = data.start_retention(every=DAY)  # runs once straight away, then daily in the background
    stop.set()
    assert [e.product_id for e in events.history("a")] == ["recent"]

    events.record("a", "view", product_id="ancient", at=1.0)
    assert data.apply_retention() == 1 and [e.product_id for e in events.history("a")] == ["recent"]
    events.record("a", "view", product_id="ancient", at=1.0)
    keep_all = ShopperData(database, settings_for(tmp_path, retention_days=0), clock=lambda: now)
    assert keep_all.apply_retention() == 0 and len(events.history("a")) == 2


# --- differential privacy --------------------------------------------------------------------------
def engagements(shoppers: dict[str, list[tuple[str, str]]]) -> list[tuple[str, str, str, float]]:
    """Rows as EventStore.engagements gives them: by shopper, newest first."""
    return [(s, pid, kind, float(-i)) for s, actions in shoppers.items() for i, (pid, kind) in enumerate(actions)]


CROWD = {f"s{i}": [("tent", "purchase"), ("lantern", "cart"), (f"p{i % 5}", "view")] for i in range(40)}
HEAVY = [(f"p{i}", "purchase") for i in range(50)] + [("tent", "purchase"), ("niche", "purchase")]


def test_one_shopper_moves_the_counts_by_at_most_the_bound():
    bound = 3
    without = bounded_interest(engagements(CROWD), bound)
    with_heavy = bounded_interest(engagements({**CROWD, "heavy": HEAVY}), bound)
    assert sum(abs(with_heavy[k] - without[k]) for k in set(with_heavy) | set(without)) <= bound
    assert without["tent"] == 40 and without["lantern"] == pytest.approx(24)

    co_without = bounded_co_purchases(engagements(CROWD), "tent", bound)
    co_with = bounded_co_purchases(engagements({**CROWD, "heavy": HEAVY}), "tent", bound)
    assert co_without["lantern"] == 40
    assert sum(abs(co_with[k] - co_without[k]) for k in set(co_with) | set(co_without)) <= bound


def test_shown_lists_change_within_e_to_the_epsilon_when_one_shopper_is_added():
    """P[list | with the shopper] ≤ e^ε · P[list | without], for the noisy counts and for what is shown."""
    epsilon, bound = 1.0, 3
    domain = [f"p{i}" for i in range(50)] + ["tent", "lantern", "niche"]
    without = bounded_interest(engagements(CROWD), bound)
    with_heavy = bounded_interest(engagements({**CROWD, "heavy": HEAVY}), bound)
    laplace = Laplace(epsilon, np.random.default_rng(0))
    scale = laplace.scale(bound)
    for _ in range(200):  # the exact density ratio of any release is bounded
        release_ = laplace.noisy(with_heavy, domain, bound)
        assert abs(log_likelihood_ratio(release_, with_heavy, without, scale)) <= epsilon + 1e-9

    def shows_niche(counts: Counter, draws: int = 6000) -> float:
        mechanism = Laplace(epsilon, np.random.default_rng(1))
        return sum(any(pid == "niche" for pid, _ in shown(mechanism.noisy(counts, domain, bound), 1.0))
                   for _ in range(draws)) / draws  # fmt: skip

    p_with, p_without = shows_niche(with_heavy), shows_niche(without)
    assert 0 < p_without and p_with <= math.exp(epsilon) * p_without + 0.02
    assert p_without <= math.exp(epsilon) * p_with + 0.02


def test_popular_hides_small_counts_and_reuses_each_release(tmp_path):
    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

    settings = settings_for(tmp_path, privacy_epsilon=1.0, privacy_min_count=10, privacy_max_products=3,
                            privacy_release_hours=24)  # fmt: skip
    events = EventStore(Database.from_settings(settings))
    for shopper, actions in CROWD.items():
        for pid, kind in actions:
            events.record(shopper, kind, product_id=pid)  # type: ignore[arg-type]
    events.record("loner", "purchase", product_id="niche")
    clock = Clock()
    stats = PrivateStats(settings, events, lambda: ["tent", "lantern", "niche", *(f"p{i}" for i in range(5))],
                         np.random.default_rng(3), clock)  # fmt: skip
    popular = stats.popular(5)
    assert [pid for pid, _ in popular[:2]] == ["tent", "lantern"]
    assert all(count >= 10 for _, count in popular) and "niche" not in dict(popular)
    assert popular[0][1] != 40  # noisy, not the exact count
    assert stats.popular(5) == popular  # the same release until it is 24 hours old
    assert stats.bought_together("tent") == ["lantern"] == stats.bought_together("tent")
    clock.now += 24 * 3600
    assert stats.popular(5) != popular


def test_review_aggregates_count_bundled_reviews_exactly_and_shoppers_only_through_noise():
    def review(i: int, origin: str, stars: int, contributor: str | None) -> tuple[Review, Analysis]:
        r = Review(f"r{i}", "boots", stars, "comfy", "en", "a shopper", origin, None, None, 0, 0.0, float(i), contributor)
        return r, Analysis("en", 0.5, "positive", ())

    bundled = [review(i, "bundled", 4, None) for i in range(3)]
    lone = [review(10, "shopper", 1, "abc"), review(11, "shopper", 1, "abc")]  # one shopper, counted once
    exact_bundled, exact_shoppers = review_tallies(bundled + lone)
    assert exact_bundled["boots"].count == 3 and exact_shoppers["boots"].count == 1
    domain = ["boots", "sandals"]
    releases = [release(exact_shoppers, domain, LEXICON, Laplace(1.0, np.random.default_rng(s)), 10)
                for s in range(200)]  # fmt: skip
    assert sum("boots" in r for r in releases) <= 25  # one review, threshold 10: shown about one time in twenty
    crowd = {"boots": Tally(count=60, centred_stars=60.0, sentiment=30.0)}
    shown_crowd = release(crowd, domain, LEXICON, Laplace(1.0, np.random.default_rng(0)), 10)
    assert abs(shown_crowd["boots"].count - 60) < 40 and shown_crowd["boots"].count != 60
