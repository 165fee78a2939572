"""Shopper events in SQLite under the data directory: searches, views, add-to-cart, purchases.

One small table, WAL journal, a short busy timeout and one connection per call, so concurrent
requests (Gradio runs handlers in threads, the app may run in several processes) never lose a
write. "Forget" deletes rows; nothing is hidden instead of removed.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

EventKind = Literal["search", "view", "cart", "purchase"]
KINDS: tuple[EventKind, ...] = ("search", "view", "cart", "purchase")
INTEREST = {"view": 1.0, "cart": 3.0, "purchase": 5.0}  # how much an event says about a product

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    shopper TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('search', 'view', 'cart', 'purchase')),
    product_id TEXT,
    query TEXT,
    modality TEXT,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_shopper ON events (shopper, at);
CREATE INDEX IF NOT EXISTS events_by_product ON events (product_id);
"""


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
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._schema_lock = threading.Lock()
        with self._connection() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
            db.execute("PRAGMA busy_timeout=30000")
            yield db

    def record(self, shopper: str, kind: EventKind, *, product_id: str | None = None, query: str | None = None,
               modality: str | None = None, at: float | None = None) -> int:  # fmt: skip
        if kind not in KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        if not shopper:
            raise ValueError("an event needs a shopper id")
        with self._connection() as db:
            cursor = db.execute(
                "INSERT INTO events (shopper, kind, product_id, query, modality, at) VALUES (?, ?, ?, ?, ?, ?)",
                (shopper, kind, product_id, query, modality, at if at is not None else time.time()),
            )
            return int(cursor.lastrowid)

    def history(self, shopper: str, limit: int = 200) -> list[Event]:
        """The shopper's events, newest first."""
        with self._connection() as db:
            rows = db.execute(
                "SELECT id, shopper, kind, product_id, query, modality, at FROM events WHERE shopper = ? "
                "ORDER BY at DESC, id DESC LIMIT ?", (shopper, limit),
            ).fetchall()  # fmt: skip
        return [Event(*row) for row in rows]

    def forget(self, shopper: str, event_id: int) -> bool:
        with self._connection() as db:
            return db.execute("DELETE FROM events WHERE id = ? AND shopper = ?", (event_id, shopper)).rowcount == 1

    def forget_shopper(self, shopper: str) -> int:
        with self._connection() as db:
            return db.execute("DELETE FROM events WHERE shopper = ?", (shopper,)).rowcount

    def count(self, shopper: str | None = None) -> int:
        with self._connection() as db:
            if shopper is None:
                return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            return db.execute("SELECT COUNT(*) FROM events WHERE shopper = ?", (shopper,)).fetchone()[0]

    def popularity(self) -> Counter:
        """Interest per product over all shoppers (views 1, carts 3, purchases 5)."""
        with self._connection() as db:
            rows = db.execute(
                "SELECT product_id, kind, COUNT(*) FROM events WHERE product_id IS NOT NULL GROUP BY product_id, kind"
            ).fetchall()
        popularity: Counter = Counter()
        for product_id, kind, count in rows:
            popularity[product_id] += INTEREST.get(kind, 0.0) * count
        return popularity

    def bought_together(self, product_id: str, limit: int = 8) -> list[str]:
        """Products carted or bought by the shoppers who carted or bought this one, most shared first."""
        with self._connection() as db:
            rows = db.execute(
                """SELECT other.product_id, COUNT(DISTINCT other.shopper) AS shoppers FROM events AS mine
                   JOIN events AS other ON other.shopper = mine.shopper AND other.product_id != mine.product_id
                   WHERE mine.product_id = ? AND mine.kind IN ('cart', 'purchase')
                     AND other.kind IN ('cart', 'purchase')
                   GROUP BY other.product_id ORDER BY shoppers DESC, other.product_id LIMIT ?""",
                (product_id, limit),
            ).fetchall()
        return [row[0] for row in rows]
