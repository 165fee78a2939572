"""One shopper, several devices: a one-time pairing code merges two anonymous profiles.

"Continue on another device" asks :meth:`Pairing.start` for a code: eight characters from an
alphabet without look-alikes (no 0/O, 1/I/L), shown as ``ABCD-EFGH`` and as a QR code, valid for
ten minutes and usable once. Entering it on the other device (:meth:`Pairing.join`) merges the two
profiles into one: in a single transaction both devices are linked to a fresh shared profile id and
every event, review and helpful vote of both is moved there. Nothing is copied, so nothing is
duplicated (two votes for the same review become one), and nothing is lost. Joining again is a no-op.

:meth:`Pairing.unpair` splits a device off from that moment on: it resolves to its own id again and
starts with an empty history, while the shared history stays with the profile the other devices
keep. No account, name or e-mail is involved: a profile is a random id, as a device id is.
"""

from __future__ import annotations

import io
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from engine.errors import InvalidInputError
from engine.settings import Settings
from engine.shoppers.events import Database

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # 31 symbols: 8 of them give about 40 bits
CODE_LENGTH = 8
VALID_SECONDS = 10 * 60


class PairingError(InvalidInputError):
    """A code that cannot be used: unknown, expired, already used, or entered on its own device."""


@dataclass(frozen=True)
class PairingCode:
    code: str  # as shown: ABCD-EFGH
    expires: float  # seconds since the epoch

    def payload(self, link: str | None = None) -> str:
        """What the QR code holds: the code, or ``link`` with ``pair=CODE`` added so a phone camera opens it."""
        if not link:
            return self.code
        return f"{link}{'&' if '?' in link else '?'}pair={quote(self.code)}"

    def qr_png(self, link: str | None = None, box_size: int = 8) -> bytes:
        image = _qr(self.payload(link), box_size).make_image()
        buffer = io.BytesIO()
        image.save(buffer)
        return buffer.getvalue()

    def qr_svg(self, link: str | None = None) -> str:
        from qrcode.image.svg import SvgPathImage

        return _qr(self.payload(link), 8).make_image(image_factory=SvgPathImage).to_string().decode()


@dataclass(frozen=True)
class Merge:
    profile: str  # the shared profile both devices now use
    events: int  # rows moved into it by this join
    reviews: int
    votes: int
    already_paired: bool = False


class Pairing:
    """Codes, merging and unpairing over the shopper database; ``clock`` is injectable for tests."""

    def __init__(self, database: Database, clock: Callable[[], float] = time.time) -> None:
        self.database, self.clock = database, clock

    @classmethod
    def from_settings(cls, settings: Settings) -> Pairing:
        return cls(Database.from_settings(settings))

    def start(self, device: str) -> PairingCode:
        """A new one-time code for ``device``, valid for ten minutes."""
        if not device:
            raise PairingError("This browser has no shopper id yet; reload the page and try again.")
        raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        expires = self.clock() + VALID_SECONDS
        with self.database.connect() as db:
            db.execute("INSERT INTO pairing_codes (code, device, expires) VALUES (?, ?, ?)", (raw, device, expires))
        return PairingCode(f"{raw[:4]}-{raw[4:]}", expires)

    def join(self, device: str, code: str) -> Merge:
        """Merge ``device``'s profile with that of the device that showed ``code``; the code is used up."""
        raw = normalise(code)
        with self.database.transaction() as db:
            row = db.execute("SELECT device, expires FROM pairing_codes WHERE code = ?", (raw,)).fetchone()
            if row is None or row[0] == device:
                problem = "own" if row else "unknown"
            else:
                db.execute("DELETE FROM pairing_codes WHERE code = ?", (raw,))
                problem = "expired" if row[1] < self.clock() else None
                if problem is None:
                    return self._merge(db, row[0], device)
        raise PairingError({
            "unknown": "That pairing code is not valid. Check it, or ask the other device for a new one.",
            "expired": "That pairing code has expired (codes last ten minutes). Ask the other device for a new one.",
            "own": "This code was made on this device: enter it on your other device.",
        }[problem])  # fmt: skip

    def unpair(self, device: str) -> bool:
        """Split ``device`` off its shared profile from now on; False if it was not paired."""
        with self.database.connect() as db:
            return db.execute("DELETE FROM devices WHERE device = ?", (device,)).rowcount == 1

    def devices(self, device: str) -> list[str]:
        """The devices sharing ``device``'s profile (itself included), in pairing order."""
        with self.database.connect() as db:
            profile = Database.profile(db, device)
            rows = db.execute("SELECT device FROM devices WHERE profile = ? ORDER BY linked_at, device", (profile,))
            return [row[0] for row in rows] or [device]

    def _merge(self, db: sqlite3.Connection, issuer: str, joiner: str) -> Merge:
        target, source = Database.profile(db, issuer), Database.profile(db, joiner)
        if target == source:
            return Merge(target, 0, 0, 0, already_paired=True)
        now = self.clock()
        if target == issuer:  # first pairing of this device: give it a shared profile of its own
            target = f"profile-{secrets.token_hex(16)}"
            _move(db, issuer, target)
            db.execute("INSERT INTO devices (device, profile, linked_at) VALUES (?, ?, ?)", (issuer, target, now))
        events, reviews, votes = _move(db, source, target)
        db.execute("UPDATE devices SET profile = ? WHERE profile = ?", (target, source))
        db.execute("INSERT OR IGNORE INTO devices (device, profile, linked_at) VALUES (?, ?, ?)", (joiner, target, now))
        return Merge(target, events, reviews, votes)


def normalise(code: str) -> str:
    """``abcd efgh``, ``ABCD-EFGH`` -> ``ABCDEFGH``."""
    return re.sub(r"[^0-9A-Za-z]", "", code or "").upper()


def _move(db: sqlite3.Connection, source: str, target: str) -> tuple[int, int, int]:
    events = db.execute("UPDATE events SET shopper = ? WHERE shopper = ?", (target, source)).rowcount
    reviews = db.execute("UPDATE reviews SET shopper = ? WHERE shopper = ?", (target, source)).rowcount
    votes = db.execute("UPDATE OR IGNORE review_votes SET shopper = ? WHERE shopper = ?", (target, source)).rowcount
    db.execute("DELETE FROM review_votes WHERE shopper = ?", (source,))  # votes both devices cast: now one
    return events, reviews, votes


def _qr(data: str, box_size: int):
    import qrcode

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=2)
    qr.add_data(data)
    qr.make(fit=True)
    return qr
