"""Encryption at rest for the shopper database, and the command that rotates its key.

    python -m engine.shoppers.keys generate                       # print a new key for SHOPLENS_SECRET_KEY
    python -m engine.shoppers.keys rotate --old OLD --new NEW     # re-encrypt every secret column

When ``SHOPLENS_SECRET_KEY`` holds a Fernet key (``cryptography``: AES-128-CBC + HMAC-SHA256), the
columns in :data:`ENCRYPTED_COLUMNS` (query texts, which include voice-search transcripts, review
texts and review voice-note transcripts) are written as ``fernet:<token>``. Without a key they are
written in plain text. Reading never fails: a value that cannot be decrypted (no key, wrong key)
reads as :data:`UNREADABLE`, so a misconfigured server shows a lock rather than a stack trace.

``rotate`` takes the old and new keys from ``--old``/``--new`` or, better (no key in the shell
history), from the environment variables ``SHOPLENS_SECRET_KEY`` and ``SHOPLENS_NEW_SECRET_KEY``.
An empty old key encrypts a database that was written without one. Everything happens in one
transaction: a failure leaves the database as it was. Stop the app while rotating, then restart it
with the new key.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from engine.errors import ShopLensError

PREFIX = "fernet:"
UNREADABLE = "[encrypted]"
ENCRYPTED_COLUMNS: dict[str, tuple[str, ...]] = {"events": ("query",), "reviews": ("text", "transcript")}


class SecretKeyError(ShopLensError):
    """A key is not a Fernet key, or does not open what the database holds."""


def _fernet(key: str) -> Fernet:
    try:
        return Fernet(key.strip().encode())
    except (ValueError, TypeError) as error:
        raise SecretKeyError(
            "SHOPLENS_SECRET_KEY is not a Fernet key (32 url-safe base64 bytes); "
            "make one with `python -m engine.shoppers.keys generate`."
        ) from error


class FieldCipher:
    """Encrypts and decrypts single column values; a cipher without a key passes text through."""

    def __init__(self, key: str | None = None) -> None:
        self._fernet = _fernet(key) if key and key.strip() else None

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def encrypt(self, value: str | None) -> str | None:
        if value is None or self._fernet is None:
            return value
        return PREFIX + self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, value: str | None) -> str | None:
        if value is None or not value.startswith(PREFIX):
            return value  # written before encryption was switched on
        if self._fernet is None:
            return UNREADABLE
        try:
            return self._fernet.decrypt(value[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            return UNREADABLE


def rotate(path: Path, old: str | None, new: str, columns: dict[str, Iterable[str]] = ENCRYPTED_COLUMNS) -> int:
    """Re-encrypt every secret value under ``new``; plain values get encrypted too. Returns values changed.

    Refuses (and changes nothing) when a value was encrypted under a key other than ``old``.
    """
    new_fernet = _fernet(new)
    both = MultiFernet([new_fernet, *([_fernet(old)] if old and old.strip() else [])])
    changed = 0
    with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
        db.execute("PRAGMA secure_delete=ON")
        db.execute("BEGIN IMMEDIATE")
        try:
            for table, names in columns.items():
                if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone():
                    continue
                for name in names:
                    rows = db.execute(f"SELECT rowid, {name} FROM {table} WHERE {name} IS NOT NULL").fetchall()
                    for rowid, value in rows:
                        token = _rotated(both, new_fernet, value)
                        db.execute(f"UPDATE {table} SET {name} = ? WHERE rowid = ?", (token, rowid))
                        changed += 1
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return changed


def _rotated(both: MultiFernet, new: Fernet, value: str) -> str:
    if not value.startswith(PREFIX):
        return PREFIX + new.encrypt(value.encode()).decode()
    try:
        return PREFIX + both.rotate(value[len(PREFIX) :].encode()).decode()
    except InvalidToken as error:
        raise SecretKeyError("A value in the database was encrypted with another key than --old; nothing was changed.") from error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.shoppers.keys", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate", help="print a new Fernet key")
    rotating = commands.add_parser("rotate", help="re-encrypt the shopper database under a new key")
    rotating.add_argument("--old", default=os.environ.get("SHOPLENS_SECRET_KEY", ""), help="current key (empty: none); write --old=KEY, as a key may begin with '-'")
    rotating.add_argument("--new", default=os.environ.get("SHOPLENS_NEW_SECRET_KEY", ""), help="key to rotate to; write --new=KEY")
    rotating.add_argument("--database", type=Path, help="shopper database (default: the one under SHOPLENS_DATA_DIR)")
    args = parser.parse_args(argv)
    if args.command == "generate":
        print(Fernet.generate_key().decode())
        return 0
    if not args.new:
        print("error: give the new key with --new or SHOPLENS_NEW_SECRET_KEY", file=sys.stderr)
        return 2
    path = args.database or _default_database()
    if not path.is_file():
        print(f"error: no shopper database at {path}", file=sys.stderr)
        return 2
    try:
        changed = rotate(path, args.old, args.new)
    except SecretKeyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"re-encrypted {changed} values in {path}; now set SHOPLENS_SECRET_KEY to the new key")
    return 0


def _default_database() -> Path:
    from engine.settings import Settings
    from engine.shoppers.events import DATABASE_FILE

    return Settings().data_dir / DATABASE_FILE


if __name__ == "__main__":
    sys.exit(main())
