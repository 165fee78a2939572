"""The web server: Gradio's page and API, plus product pictures served by product id.

Pictures are served by a route of our own (``/img/<product id>``) rather than by opening a folder to
Gradio's file server: only files that are some product's image can be fetched, so a catalogue kept
next to other files (the events database, say) never exposes them.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import gradio as gr
import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse
from gradio.utils import get_upload_folder

from demo import rest
from demo.guard import UploadGuard
from demo.ui import EXAMPLES_DIR, SEARCH_CONCURRENCY, build_ui, launch_options
from engine.service import ShopLens

IMAGE_CACHE_SECONDS = 3600


def create_app(shop: ShopLens) -> FastAPI:
    """The FastAPI app: ``/img/{product_id}``, ``/healthz``, plain JSON under ``/api/`` and the Gradio Blocks at ``/``."""
    app = FastAPI(title="ShopLens", docs_url=None, redoc_url=None)
    # Where Gradio saves what a browser or a client sends, and the tour's example photo and recording.
    shop.allow_uploads_from(get_upload_folder(), EXAMPLES_DIR)

    @app.get("/img/{product_id}", include_in_schema=False)
    def product_image(product_id: str) -> FileResponse:
        path = shop.image_path(product_id)
        if path is None:
            raise HTTPException(status_code=404, detail="no such product")
        return FileResponse(path, headers={"Cache-Control": f"public, max-age={IMAGE_CACHE_SECONDS}"})

    @app.get("/review-img/{review_id}", include_in_schema=False)
    def review_image(review_id: str) -> FileResponse:
        path = shop.review_photo(review_id)
        if path is None:
            raise HTTPException(status_code=404, detail="no such review photo")
        return FileResponse(path, headers={"Cache-Control": f"public, max-age={IMAGE_CACHE_SECONDS}"})

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, Any]:
        """Up (the page answers); ``ready`` once the catalogue is indexed; what is switched off and why."""
        status = shop.status()
        return {"status": "ok", "products": shop.product_count(), "ready": status.ready, "indexing": status.indexing,
                "photo": status.photo, "voice": status.voice}  # fmt: skip

    app.include_router(rest.router(shop, concurrency_limit=SEARCH_CONCURRENCY))  # before the page takes "/"
    app.add_middleware(UploadGuard, upload_roots=[Path(get_upload_folder())])
    return gr.mount_gradio_app(app, build_ui(shop), path="/", **launch_options(shop))


class BackgroundServer(uvicorn.Server):
    """A uvicorn server on a thread, for tests and scripts: ``with BackgroundServer.run(app, port) as url``."""

    def install_signal_handlers(self) -> None:  # the main thread keeps its own handlers
        pass

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True, name="shoplens-server")
        thread.start()
        deadline = time.monotonic() + 60
        while not self.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the ShopLens web server did not start")
            time.sleep(0.05)
        return thread

    def stop(self, thread: threading.Thread) -> None:
        self.should_exit = True
        thread.join(timeout=30)


def serve(shop: ShopLens, host: str, port: int) -> None:
    """Serve until interrupted (``python app.py``)."""
    # Open event streams (Gradio's queue) would hold a graceful shutdown forever: give them 5 s.
    uvicorn.run(create_app(shop), host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
