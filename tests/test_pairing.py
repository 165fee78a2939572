"""One shopper, several devices: pairing codes, the merge of two anonymous profiles, unpairing."""

import io
import sqlite3

import pytest
from PIL import Image

from engine.settings import Settings
from engine.shoppers.events import Database, EventStore
from engine.shoppers.pairing import ALPHABET, VALID_SECONDS, Pairing, PairingError, normalise
from engine.shoppers.privacy import ShopperData


class Clock:
    """A settable clock: codes expire by moving it, never by waiting."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database(tmp_path):
    return Database(tmp_path / "events.sqlite3")


def add_review(database: Database, review_id: str, shopper: str | None, product_id: str = "p1") -> None:
    origin = "shopper" if shopper else "bundled"
    with database.connect() as db:
        db.execute("INSERT INTO reviews (id, product_id, shopper, origin, author, stars, text, language, created, updated) "
                   "VALUES (?, ?, ?, ?, 'a shopper', 4, 'fine', 'en', 0, 0)",
                   (review_id, product_id, Database.profile(db, shopper) if shopper else None, origin))  # fmt: skip


def vote(database: Database, review_id: str, device: str) -> None:
    with database.connect() as db:
        db.execute("INSERT INTO review_votes (review_id, shopper, at) VALUES (?, ?, 0)",
                   (review_id, Database.profile(db, device)))  # fmt: skip


def table(database: Database, sql: str) -> list[tuple]:
    with database.connect() as db:
        return db.execute(sql).fetchall()


def test_pairing_merges_two_profiles_moving_everything_once(database):
    events = EventStore(database)
    laptop = [events.record("laptop", "view", product_id=f"p{i}", at=100 + i) for i in range(3)]
    phone = [events.record("phone", "search", query="red shoes", at=200), events.record("phone", "cart", product_id="p9", at=201)]
    events.record("stranger", "view", product_id="p1")
    add_review(database, "bundled-1", None)
    add_review(database, "bundled-2", None)
    add_review(database, "laptop-review", "laptop")
    vote(database, "bundled-1", "laptop")
    vote(database, "bundled-1", "phone")  # both devices liked the same review: one vote after the merge
    vote(database, "bundled-2", "phone")
    rows_before = events.count()

    pairing = Pairing(database)
    code = pairing.start("laptop")
    merge = pairing.join("phone", code.code)

    assert (merge.events, merge.reviews, merge.votes) == (2, 0, 1) and not merge.already_paired
    for device in ("laptop", "phone"):
        assert sorted(e.id for e in events.history(device)) == sorted(laptop + phone)  # nothing lost
    assert events.count() == rows_before  # nothing copied
    assert table(database, "SELECT review_id, COUNT(*) FROM review_votes GROUP BY review_id") == [("bundled-1", 1), ("bundled-2", 1)]
    assert table(database, "SELECT COUNT(*) FROM reviews WHERE shopper = (SELECT profile FROM devices LIMIT 1)") == [(1,)]
    assert [e.product_id for e in events.history("stranger")] == ["p1"]
    assert sorted(pairing.devices("phone")) == ["laptop", "phone"]
    assert merge.profile not in ("laptop", "phone")  # a fresh id, so either device can leave later
    exported = ShopperData(database, Settings(_env_file=None, data_dir=database.path.parent)).export("phone")
    assert len(exported["events"]) == 5 and [r["id"] for r in exported["reviews"]] == ["laptop-review"]

    events.record("phone", "purchase", product_id="p9")  # from now on both devices write to one profile
    assert events.history("laptop")[0].kind == "purchase"


def test_joining_again_changes_nothing(database):
    events, pairing = EventStore(database), Pairing(database)
    events.record("laptop", "view", product_id="p1")
    events.record("phone", "view", product_id="p2")
    pairing.join("phone", pairing.start("laptop").code)
    snapshot = table(database, "SELECT id, shopper FROM events ORDER BY id")
    again = pairing.join("laptop", pairing.start("phone").code)  # the same two devices, the other way round
    assert again.already_paired and (again.events, again.reviews, again.votes) == (0, 0, 0)
    assert table(database, "SELECT id, shopper FROM events ORDER BY id") == snapshot

    events.record("tablet", "view", product_id="p3")  # a third device joins the shared profile
    pairing.join("tablet", pairing.start("phone").code)
    assert len(events.history("laptop")) == 3 and sorted(pairing.devices("laptop")) == ["laptop", "phone", "tablet"]


def test_codes_are_short_unambiguous_one_time_and_expire(database):
    clock = Clock()
    pairing = Pairing(database, clock=clock)
    code = pairing.start("laptop")
    raw = normalise(code.code)
    assert len(code.code) == 9 and code.code[4] == "-" and set(raw) <= set(ALPHABET)
    assert not set("01IOL") & set(ALPHABET)
    assert code.expires == clock.now + VALID_SECONDS == clock.now + 600

    with pytest.raises(PairingError, match="this device"):
        pairing.join("laptop", code.code)  # shown and entered on the same device
    pairing.join("phone", f"  {raw[:4].lower()} {raw[4:].lower()} ")  # typed loosely: still the code
    with pytest.raises(PairingError, match="not valid"):
        pairing.join("tablet", code.code)  # used once already

    late = pairing.start("laptop")
    clock.now += VALID_SECONDS + 1
    with pytest.raises(PairingError, match="expired"):
        pairing.join("tablet", late.code)
    assert pairing.devices("tablet") == ["tablet"]
    with pytest.raises(PairingError, match="not valid"):
        pairing.join("tablet", "ZZZZ-ZZZZ")


def test_unpairing_splits_the_devices_from_that_moment_on(database):
    events, pairing = EventStore(database), Pairing(database)
    events.record("laptop", "view", product_id="p1")
    events.record("phone", "view", product_id="p2")
    pairing.join("phone", pairing.start("laptop").code)
    assert pairing.unpair("phone") and not pairing.unpair("phone")

    events.record("phone", "view", product_id="p3")
    events.record("laptop", "view", product_id="p4")
    assert [e.product_id for e in events.history("phone")] == ["p3"]  # a fresh start
    assert sorted(e.product_id for e in events.history("laptop")) == ["p1", "p2", "p4"]  # the shared history stays
    assert pairing.devices("phone") == ["phone"] and pairing.devices("laptop") == ["laptop"]


def test_a_failed_merge_moves_nothing_and_keeps_the_code(database):
    events, pairing = EventStore(database), Pairing(database)
    events.record("laptop", "view", product_id="p1")
    events.record("phone", "view", product_id="p2")
    add_review(database, "phone-review", "phone")
    code = pairing.start("laptop")
    before = table(database, "SELECT id, shopper FROM events ORDER BY id")
    with database.connect() as db:  # the reviews step fails half-way through the merge
        db.execute("CREATE TRIGGER refuse BEFORE UPDATE ON reviews BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
    with pytest.raises(sqlite3.DatabaseError, match="disk on fire"):
        pairing.join("phone", code.code)
    assert table(database, "SELECT id, shopper FROM events ORDER BY id") == before
    assert table(database, "SELECT COUNT(*) FROM devices") == [(0,)]
    with database.connect() as db:
        db.execute("DROP TRIGGER refuse")
    assert pairing.join("phone", code.code).events == 1  # the code was not used up by the failure


def test_qr_code_as_png_and_svg(database):
    code = Pairing(database).start("laptop")
    png = code.qr_png()
    assert png.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(png)) as image:
        assert image.size[0] == image.size[1] >= 100
    assert code.qr_svg().startswith("<svg")
    assert code.payload("https://shop.example/?lang=en") == f"https://shop.example/?lang=en&pair={code.code}"
    assert code.payload() == code.code
