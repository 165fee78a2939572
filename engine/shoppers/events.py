"""Everything tied to a shopper, in one SQLite file under the data directory.

Events (searches, views, add-to-cart, purchases), reviews and their helpful votes, the devices that
share a profile and open pairing codes all live in :data:`SCHEMA`, one file. That is deliberate:
pairing moves a profile's events and reviews in one transaction, and export, "forget me" and
retention cannot miss a table that lives elsewhere.

WAL journal, a short busy timeout and one connection per call, so concurrent requests (Gradio runs
handlers in threads, the app may run in several processes) never lose a write. ``secure_delete``
overwrites deleted rows with zeros, so "forget" removes them from the file itself, not only from
view. Query texts go through the :class:`~engine.shoppers.keys.FieldCipher`.

A browser's anonymous shopper id is a *device*; its events are stored under its *profile*, which is
the device id itself until pairing links several devices to one profile (:mod:`.pairing`).
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engine.settings import Settings
from engine.shoppers.keys import FieldCipher

EventKind = Literal["search", "view", "cart", "purchase"]
KINDS: tuple[EventKind, ...] = ("search", "view", "cart", "purchase")
INTEREST = {"view": 1.0, "cart": 3.0, "purchase": 5.0}  # how much an event says about a product
DATABASE_FILE = "events.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    shopper TEXT NOT NULL,                      -- the profile
    kind TEXT NOT NULL CHECK (kind IN ('search', 'view', 'cart', 'purchase')),
    product_id TEXT,
    query TEXT,                                 -- encrypted when a key is set
    modality TEXT,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_shopper ON events (shopper, at);
CREATE INDEX IF NOT EXISTS events_by_product ON events (product_id);
CREATE INDEX IF NOT EXISTS events_by_time ON events (at);

CREATE TABLE IF NOT EXISTS reviews (
    id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL,
    shopper TEXT,                               -- the profile; NULL once anonymised, or bundled
    origin TEXT NOT NULL CHECK (origin IN ('shopper', 'anonymised', 'bundled')),
    author TEXT NOT NULL,                       -- shown name: 'a shopper', or a bundled review's
    stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    text TEXT NOT NULL,                         -- encrypted when a key is set
    transcript TEXT,                            -- what Whisper heard in the voice note, likewise
    language TEXT NOT NULL,
    photo TEXT,                                 -- under the data dir (shoppers) or the catalogue (bundled)
    photo_vector BLOB,                          -- its CLIP vector, float32
    photo_space TEXT,                           -- the vector space that made it
    helpful_base INTEGER NOT NULL DEFAULT 0,    -- helpful votes a bundled review ships with
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_by_product ON reviews (product_id);
CREATE INDEX IF NOT EXISTS reviews_by_shopper ON reviews (shopper);

CREATE TABLE IF NOT EXISTS review_votes (
    review_id TEXT NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    shopper TEXT NOT NULL,                      -- the profile
    at REAL NOT NULL,
    PRIMARY KEY (review_id, shopper)
);
CREATE INDEX IF NOT EXISTS review_votes_by_shopper ON review_votes (shopper);

CREATE TABLE IF NOT EXISTS devices (
    device TEXT PRIMARY KEY,                    -- a browser's anonymous shopper id
    profile TEXT NOT NULL,
    linked_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS devices_by_profile ON devices (profile);

CREATE TABLE IF NOT EXISTS pairing_codes (
    code TEXT PRIMARY KEY,
    device TEXT NOT NULL,                       -- the device that showed it
    expires REAL NOT NULL
);
"""


class Database:
    """The shopper database file: schema, connections, transactions, profile lookup and the cipher."""

    def __init__(self, path: str | Path, cipher: FieldCipher | None = None) -> None:
        self.path = Path(path)
        self.cipher = cipher or FieldCipher()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.data_dir / DATABASE_FILE, FieldCipher(settings.secret_key))

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """An autocommit connection: every statement is its own transaction."""
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA secure_delete=ON")
            db.execute("PRAGMA foreign_keys=ON")
            yield db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All statements inside commit together or not at all (the write lock is taken at once)."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the main file and empty it (after deleting personal data)."""
        with self.connect() as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @staticmethod
    def profile(db: sqlite3.Connection, device: str) -> str:
        """The profile a device's data is stored under: its pairing, else the device id itself."""
        row = db.execute("SELECT profile FROM devices WHERE device = ?", (device,)).fetchone()
        return row[0] if row else device


@dataclass(frozen=True)
class Event:
    id: int
    shopper: str
    kind: EventKind
    product_id: str | None
    query: str | None
    modality: str | None
    at: float


class EventStore:
    """What shoppers do. Every method takes a device id and works on that device's profile."""

    def __init__(self, database: Database | str | Path) -> None:
        self.database = database if isinstance(database, Database) else Database(database)
        self.path = self.database.path

    @classmethod
    def from_settings(cls, settings: Settings) -> EventStore:
        return cls(Database.from_settings(settings))

    def record(self, shopper: str, kind: EventKind, *, product_id: str | None = None, query: str | None = None,
               modality: str | None = None, at: float | None = None) -> int:  # fmt: skip
        if kind not in KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        if not shopper:
            raise ValueError("an event needs a shopper id")
        with self.database.connect() as db:
            cursor = db.execute(
                "INSERT INTO events (shopper, kind, product_id, query, modality, at) VALUES (?, ?, ?, ?, ?, ?)",
                (Database.profile(db, shopper), kind, product_id, self.database.cipher.encrypt(query), modality,
                 at if at is not None else time.time()),
            )  # fmt: skip
            return int(cursor.lastrowid)

    def history(self, shopper: str, limit: int = 200) -> list[Event]:
        """The shopper's events, newest first, query texts decrypted."""
        with self.database.connect() as db:
            rows = db.execute(
                "SELECT id, shopper, kind, product_id, query, modality, at FROM events WHERE shopper = ? "
                "ORDER BY at DESC, id DESC LIMIT ?", (Database.profile(db, shopper), limit),
            ).fetchall()  # fmt: skip
        decrypt = self.database.cipher.decrypt
        return [Event(i, s, k, p, decrypt(q), m, a) for i, s, k, p, q, m, a in rows]

    def forget(self, shopper: str, event_id: int) -> bool:
        with self.database.connect() as db:
            deleted = db.execute("DELETE FROM events WHERE id = ? AND shopper = ?", (event_id, Database.profile(db, shopper)))
            return deleted.rowcount == 1

    def forget_shopper(self, shopper: str) -> int:
        """Delete the shopper's events (``ShopperPrivacy.forget`` also removes reviews and pairings)."""
        with self.database.connect() as db:
            return db.execute("DELETE FROM events WHERE shopper = ?", (Database.profile(db, shopper),)).rowcount

    def count(self, shopper: str | None = None) -> int:
        with self.database.connect() as db:
            if shopper is None:
                return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            return db.execute("SELECT COUNT(*) FROM events WHERE shopper = ?", (Database.profile(db, shopper),)).fetchone()[0]

    def delete_before(self, cutoff: float) -> int:
        """Retention: delete events recorded before ``cutoff`` (seconds since the epoch) and lapsed pairing codes."""
        with self.database.transaction() as db:
            deleted = db.execute("DELETE FROM events WHERE at < ?", (cutoff,)).rowcount
            db.execute("DELETE FROM pairing_codes WHERE expires < ?", (time.time(),))
        self.database.checkpoint()
        return deleted

    # --- across shoppers (exact: shown to others only through engine.shoppers.privacy) ------------
    def engagements(self) -> list[tuple[str, str, str, float]]:
        """(profile, product id, kind, time) of every view, cart and purchase, grouped by profile."""
        with self.database.connect() as db:
            return db.execute(
                "SELECT shopper, product_id, kind, at FROM events WHERE product_id IS NOT NULL "
                "AND kind IN ('view', 'cart', 'purchase') ORDER BY shopper, at DESC, id DESC"
            ).fetchall()

    def searches(self) -> list[tuple[str, str]]:
        """(profile, query text) of every typed or spoken search, newest first per profile, decrypted."""
        with self.database.connect() as db:
            rows = db.execute(
                "SELECT shopper, query FROM events WHERE kind = 'search' AND query IS NOT NULL ORDER BY shopper, at DESC"
            ).fetchall()
        decrypt = self.database.cipher.decrypt
        return [(shopper, decrypt(query)) for shopper, query in rows]

    def popularity(self) -> Counter:
        """Interest per product over all shoppers (views 1, carts 3, purchases 5)."""
        with self.database.connect() as db:
            rows = db.execute(
                "SELECT product_id, kind, COUNT(*) FROM events WHERE product_id IS NOT NULL GROUP BY product_id, kind"
            ).fetchall()
        popularity: Counter = Counter()
        for product_id, kind, count in rows:
            popularity[product_id] += INTEREST.get(kind, 0.0) * count
        return popularity

    def bought_together(self, product_id: str, limit: int = 8) -> list[str]:
        """Products carted or bought by the shoppers who carted or bought this one, most shared first."""
        with self.database.connect() as db:
            rows = db.execute(
                """SELECT other.product_id, COUNT(DISTINCT other.shopper) AS shoppers FROM events AS mine
                   JOIN events AS other ON other.shopper = mine.shopper AND other.product_id != mine.product_id
                   WHERE mine.product_id = ? AND mine.kind IN ('cart', 'purchase')
                     AND other.kind IN ('cart', 'purchase')
                   GROUP BY other.product_id ORDER BY shoppers DESC, other.product_id LIMIT ?""",
                (product_id, limit),
            ).fetchall()
        return [row[0] for row in rows]
