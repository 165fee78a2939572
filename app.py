"""ShopLens web app: ``python app.py`` serves the bundled catalogue (settings: ``SHOPLENS_*``, see README)."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading


def use_persistent_storage() -> None:
    """On a Hugging Face Space with persistent storage, keep the index, shopper data and model weights
    in /data (unless the settings already say where), so a restart neither re-downloads nor re-indexes."""
    if not os.environ.get("SPACE_ID") or not os.access("/data", os.W_OK):
        return
    os.environ.setdefault("SHOPLENS_DATA_DIR", "/data/shoplens")
    os.environ.setdefault("SHOPLENS_MODEL_CACHE_DIR", "/data/models")  # Whisper and the exported CLIP towers
    # CLIP's weights stay where `preload_from_hub` put them when the Space was built (the image's HF cache).


def main() -> int:
    use_persistent_storage()
    # Gradio takes seconds to import and the models seconds to load: do both at once (loading a model
    # spends most of its time outside the GIL), so the page is served sooner.
    page = threading.Thread(target=importlib.import_module, args=("demo.server",), name="import-page")
    page.start()
    from engine.errors import ShopLensError
    from engine.service import ShopLens
    from engine.settings import Settings

    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    shop = ShopLens(settings)
    try:
        shop.start(background=True)  # serve at once; the catalogue indexes behind the page
    except ShopLensError as error:
        print(f"ShopLens cannot start: {error}", file=sys.stderr)
        return 1
    page.join()
    from demo.server import serve
    # Hugging Face Spaces (and Gradio's own convention) pass the address in GRADIO_SERVER_NAME/PORT.
    host = settings.host or os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    port = settings.port or int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    print(f"ShopLens is serving on http://{host}:{port}", flush=True)
    serve(shop, host, port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
