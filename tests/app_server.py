"""Start the real ShopLens Gradio app in-process on 127.0.0.1 for API and browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from demo.ui import build_ui, launch_options
from engine.service import ShopLens
from engine.settings import Settings
from tests.conftest import free_port


@contextmanager
def running_app(settings: Settings, speech=None) -> Iterator[tuple[str, ShopLens]]:
    shop = ShopLens(settings)
    if speech is not None:
        shop.speech = speech  # share the session's loaded Whisper
    shop.start(speech=speech is None)
    blocks = build_ui(shop)
    options = {**launch_options(shop), "server_name": "127.0.0.1", "server_port": free_port()}
    blocks.launch(prevent_thread_lock=True, quiet=True, **options)
    try:
        yield f"http://127.0.0.1:{options['server_port']}/", shop
    finally:
        blocks.close()
