"""Reviews in the shopper database: written by shoppers, or shipped with the catalogue.

A shopper's review is stored under their profile (so pairing, export and "forget me" find it), at
most one per product: posting again edits it. Review texts and voice-note transcripts go through the
database's cipher. The catalogue's own reviews (``reviews.jsonl`` next to the catalogue file) are
imported as ``bundled`` rows, idempotently; their ids carry a hash of the row, so an edited row
replaces the old one and a removed row disappears.

No caller ever sees a profile id (it is as good as a password): a review carries ``contributor``,
a one-way hash of it, which is enough to group a shopper's reviews and to recognise one's own.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from engine.shoppers.events import Database

BUNDLED_FILE = "reviews.jsonl"
PHOTO_DIR = "review-photos"  # under the data directory
SHOPPER_AUTHOR = "a shopper"
COLUMNS = ("id, product_id, shopper, origin, author, stars, text, transcript, language, photo, helpful_base, "
           "created, updated, (SELECT COUNT(*) FROM review_votes AS v WHERE v.review_id = reviews.id)")  # fmt: skip


@dataclass(frozen=True)
class Review:
    id: str
    product_id: str
    stars: int
    text: str
    language: str
    author: str  # "a shopper", or a bundled review's name
    origin: str  # shopper, anonymised or bundled
    photo: Path | None  # the photo file
    transcript: str | None  # what Whisper heard, when the review began as a voice note
    helpful: int  # helpful votes
    created: float
    updated: float
    contributor: str | None  # one-way hash of the writer's profile; None when bundled or anonymised

    @property
    def from_shoppers(self) -> bool:
        """Written by a shopper of this shop (rather than shipped with the catalogue)."""
        return self.origin != "bundled"


def contributor(profile: str) -> str:
    return hashlib.sha256(f"shoplens-review:{profile}".encode()).hexdigest()[:16]


class ReviewStore:
    """Reading and writing review rows; photo names resolve under ``data_dir`` (shoppers') or ``catalogue_dir``."""

    def __init__(self, database: Database, data_dir: Path, catalogue_dir: Path) -> None:
        self.database = database
        self.data_dir, self.catalogue_dir = data_dir, catalogue_dir

    # --- writing ----------------------------------------------------------------------------------
    def post(self, device: str, product_id: str, stars: int, text: str, language: str, *, photo: str | None = None,
             transcript: str | None = None, at: float | None = None) -> tuple[str, str | None]:  # fmt: skip
        """Store the device's review of the product (editing its earlier one); returns (id, replaced photo)."""
        now = at if at is not None else time.time()
        encrypt = self.database.cipher.encrypt
        with self.database.transaction() as db:
            profile = Database.profile(db, device)
            row = db.execute("SELECT id, photo FROM reviews WHERE shopper = ? AND product_id = ? "
                             "ORDER BY updated DESC LIMIT 1", (profile, product_id)).fetchone()  # fmt: skip
            if row is None:
                review_id = uuid.uuid4().hex
                db.execute(
                    "INSERT INTO reviews (id, product_id, shopper, origin, author, stars, text, transcript, language, "
                    "photo, created, updated) VALUES (?, ?, ?, 'shopper', ?, ?, ?, ?, ?, ?, ?, ?)",
                    (review_id, product_id, profile, SHOPPER_AUTHOR, stars, encrypt(text), encrypt(transcript),
                     language, photo, now, now),
                )  # fmt: skip
                return review_id, None
            review_id, old_photo = row
            db.execute(
                "UPDATE reviews SET stars = ?, text = ?, transcript = ?, language = ?, photo = ?, photo_vector = NULL, "
                "photo_space = NULL, updated = ? WHERE id = ?",
                (stars, encrypt(text), encrypt(transcript), language, photo, now, review_id),
            )  # fmt: skip
            return review_id, old_photo if old_photo != photo else None

    def delete(self, device: str, review_id: str) -> str | None:
        """Delete the device's own review; returns its photo name ("" if it had none), None if not theirs."""
        with self.database.transaction() as db:
            row = db.execute("SELECT photo FROM reviews WHERE id = ? AND shopper = ?",
                             (review_id, Database.profile(db, device))).fetchone()  # fmt: skip
            if row is None:
                return None
            db.execute("DELETE FROM reviews WHERE id = ?", (review_id,))
            return row[0] or ""

    def vote(self, device: str, review_id: str) -> bool:
        """One helpful vote per profile and review, never for one's own; True when counted now."""
        with self.database.connect() as db:
            profile = Database.profile(db, device)
            owner = db.execute("SELECT shopper FROM reviews WHERE id = ?", (review_id,)).fetchone()
            if owner is None or owner[0] == profile:
                return False
            inserted = db.execute("INSERT OR IGNORE INTO review_votes (review_id, shopper, at) VALUES (?, ?, ?)",
                                  (review_id, profile, time.time()))  # fmt: skip
            return inserted.rowcount == 1

    def sync_bundled(self, path: Path) -> int:
        """Import the catalogue's reviews file; returns how many rows were added or replaced."""
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        wanted = {_bundled_id(row): row for row in rows}
        encrypt = self.database.cipher.encrypt
        with self.database.transaction() as db:
            present = {r[0] for r in db.execute("SELECT id FROM reviews WHERE origin = 'bundled'")}
            stale = present - set(wanted)
            db.executemany("DELETE FROM reviews WHERE id = ?", [(rid,) for rid in stale])
            added = [(rid, row) for rid, row in wanted.items() if rid not in present]
            db.executemany(
                "INSERT INTO reviews (id, product_id, shopper, origin, author, stars, text, language, photo, "
                "helpful_base, created, updated) VALUES (?, ?, NULL, 'bundled', ?, ?, ?, ?, ?, ?, ?, ?)",
                [(rid, row["product_id"], row.get("author") or SHOPPER_AUTHOR, int(row["stars"]), encrypt(row["text"]),
                  row["language"], row.get("photo"), int(row.get("helpful", 0)), _timestamp(row["date"]),
                  _timestamp(row["date"])) for rid, row in added],
            )  # fmt: skip
        return len(added)

    # --- reading ----------------------------------------------------------------------------------
    def for_product(self, product_id: str) -> list[Review]:
        with self.database.connect() as db:
            rows = db.execute(f"SELECT {COLUMNS} FROM reviews WHERE product_id = ?", (product_id,)).fetchall()
        return [self._review(row) for row in rows]

    def all(self) -> list[Review]:
        with self.database.connect() as db:
            return [self._review(row) for row in db.execute(f"SELECT {COLUMNS} FROM reviews")]

    def get(self, review_id: str) -> Review | None:
        with self.database.connect() as db:
            row = db.execute(f"SELECT {COLUMNS} FROM reviews WHERE id = ?", (review_id,)).fetchone()
        return self._review(row) if row else None

    def contributor_of(self, device: str) -> str:
        with self.database.connect() as db:
            return contributor(Database.profile(db, device))

    def _review(self, row: tuple) -> Review:
        (review_id, product_id, profile, origin, author, stars, text, transcript, language, photo, base,
         created, updated, votes) = row  # fmt: skip
        decrypt = self.database.cipher.decrypt
        root = self.catalogue_dir if origin == "bundled" else self.data_dir
        return Review(review_id, product_id, stars, decrypt(text) or "", language, author, origin,
                      root / photo if photo else None, decrypt(transcript), base + votes, created, updated,
                      contributor(profile) if profile else None)  # fmt: skip

    # --- photo vectors --------------------------------------------------------------------------------
    def photo_vectors(self, review_ids: Iterable[str], space: str) -> dict[str, np.ndarray]:
        """Cached CLIP vectors of the reviews' photos, made in ``space``."""
        ids = list(review_ids)
        if not ids:
            return {}
        with self.database.connect() as db:
            rows = db.execute(
                f"SELECT id, photo_vector FROM reviews WHERE photo_space = ? AND id IN ({','.join('?' * len(ids))})",
                (space, *ids),
            ).fetchall()  # fmt: skip
        return {rid: np.frombuffer(blob, dtype=np.float32) for rid, blob in rows if blob}

    def save_photo_vectors(self, vectors: dict[str, np.ndarray], space: str) -> None:
        with self.database.connect() as db:
            db.executemany("UPDATE reviews SET photo_vector = ?, photo_space = ? WHERE id = ?",
                           [(sqlite3.Binary(np.asarray(v, np.float32).tobytes()), space, rid)
                            for rid, v in vectors.items()])  # fmt: skip


def _bundled_id(row: dict) -> str:
    digest = hashlib.sha256(json.dumps(row, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:8]
    return f"bundled-{row['id']}-{digest}"


def _timestamp(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
