"""Start the real ShopLens web app in-process on 127.0.0.1 for API and browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from demo.server import BackgroundServer, create_app
from engine.service import ShopLens
from engine.settings import Settings
from tests.conftest import free_port


@contextmanager
def running_app(settings: Settings, speech=None) -> Iterator[tuple[str, ShopLens]]:
    shop = ShopLens(settings)
    if speech is not None:
        shop.speech = speech  # share the session's loaded Whisper
    shop.start(speech=speech is None)
    port = free_port()
    server = BackgroundServer(uvicorn.Config(create_app(shop), host="127.0.0.1", port=port, log_level="warning"))
    thread = server.start()
    try:
        yield f"http://127.0.0.1:{port}/", shop
    finally:
        server.stop(thread)
