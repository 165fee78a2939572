"""One writer per data directory at a time.

Chroma's embedded client is not safe for two processes writing the same folder, and two indexers
interleaving batches would each delete what the other just added. Whoever writes the index (the
``python -m engine.index`` command, or the app indexing its catalogue at start) holds this lock;
an app that only serves never takes it. The lock is an OS file lock (released by the kernel if the
holder dies), and the file says who holds it, so the second writer is told exactly whom it waits for.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from engine.errors import ShopLensError

log = logging.getLogger(__name__)

LOCK_FILE = "writer.lock"
POLL_SECONDS = 0.2


class WriterBusyError(ShopLensError):
    """Another process is writing to the same data directory."""


class WriterLock:
    def __init__(self, data_dir: Path, purpose: str) -> None:
        self.path = Path(data_dir) / LOCK_FILE
        self.purpose = purpose
        self._handle = None

    def acquire(self, wait: float = 0.0) -> WriterLock:
        """Take the lock, waiting up to ``wait`` seconds; :class:`WriterBusyError` names the holder if not."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        deadline, told = time.monotonic() + wait, False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if wait > 0 and not told:
                    log.warning("waiting up to %g s: %s", wait, _busy_message(self.path.parent, self.holder()))
                    told = True
                if time.monotonic() >= deadline:
                    holder = self.holder()
                    handle.close()
                    raise WriterBusyError(_busy_message(self.path.parent, holder)) from None
                time.sleep(POLL_SECONDS)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "purpose": self.purpose,
                                 "since": time.strftime("%Y-%m-%d %H:%M:%S")}))  # fmt: skip
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def holder(self) -> dict[str, object]:
        """Who holds the lock, as its holder wrote it (empty if unknown)."""
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def __enter__(self) -> WriterLock:
        return self if self._handle is not None else self.acquire()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.release()


def _busy_message(folder: Path, holder: dict[str, object]) -> str:
    who = (f"{holder.get('purpose', 'another process')} (process {holder.get('pid')} on {holder.get('host')}, "
           f"since {holder.get('since')})") if holder else "another process"  # fmt: skip
    return (f"The index in {folder} is being written by {who}. Wait for it to finish (or use --wait SECONDS), "
            "or stop that process.")
