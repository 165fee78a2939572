"""Chroma clients: the embedded store in a folder by default, a Chroma server when ``SHOPLENS_CHROMA_URL`` is set."""

from __future__ import annotations

import os
import threading
from urllib.parse import urlparse

from engine.errors import StoreUnavailableError
from engine.settings import Settings

RETIRE_SECONDS = 60.0  # a replaced embedded client is closed this long after, when no search still uses it


def connect(settings: Settings, generation: int = 0):
    """A Chroma client. ``generation`` > 0 opens a fresh embedded system on the same folder.

    Chroma shares one embedded system per path string within a process, and that system's vector
    index does not see what another process writes; spelling the same folder differently
    (``path/.``, ``path/./.``) is how a process gets a system that reads the files again.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if not settings.chroma_url:
        settings.chroma_path.mkdir(parents=True, exist_ok=True)
        path = os.path.join(str(settings.chroma_path), *(["."] * generation))
        return chromadb.PersistentClient(path=path, settings=chroma_settings)
    url = urlparse(settings.chroma_url if "://" in settings.chroma_url else f"http://{settings.chroma_url}")
    try:
        client = chromadb.HttpClient(
            host=url.hostname or "localhost", port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https", settings=chroma_settings,
        )  # fmt: skip
        client.heartbeat()
        return client
    except Exception as error:
        raise StoreUnavailableError(
            f"Cannot reach the Chroma server at {settings.chroma_url} ({type(error).__name__}). "
            "Start it with `chroma run --path data/chroma` or unset SHOPLENS_CHROMA_URL to use the embedded store."
        ) from error


def retire(client) -> None:
    """Close a replaced client later: searches that began before the swap may still be using it."""
    timer = threading.Timer(RETIRE_SECONDS, client.close)
    timer.daemon = True
    timer.start()
