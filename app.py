"""ShopLens web app: ``python app.py`` serves the bundled catalogue (settings: ``SHOPLENS_*``, see README)."""

from __future__ import annotations

import logging
import os
import sys


def use_persistent_storage() -> None:
    """On a Hugging Face Space with persistent storage, keep the index, shopper data and model weights
    in /data (unless the settings already say where), so a restart neither re-downloads nor re-indexes."""
    if not os.environ.get("SPACE_ID") or not os.access("/data", os.W_OK):
        return
    os.environ.setdefault("SHOPLENS_DATA_DIR", "/data/shoplens")
    os.environ.setdefault("SHOPLENS_MODEL_CACHE_DIR", "/data/models")  # Whisper and the exported CLIP towers
    # CLIP's weights stay where `preload_from_hub` put them when the Space was built (the image's HF cache).


def probe_hub_first(settings) -> None:
    """Say at once whether CLIP's weights can be downloaded, before seconds of imports (the engine
    probes again, and finds huggingface_hub already switched to its cache when the hub is out of reach)."""
    from pathlib import Path

    from engine.models.hub import prepare_downloads

    if not settings.clip_random_weights and not Path(settings.clip_pretrained).expanduser().is_file():
        prepare_downloads(needs_hub=True, needs_whisper=False)


def main() -> int:
    use_persistent_storage()
    from engine.settings import Settings

    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    probe_hub_first(settings)
    from demo.server import serve
    from engine.errors import ShopLensError
    from engine.service import ShopLens
    shop = ShopLens(settings)
    try:
        shop.start(background=True)  # serve at once; the catalogue indexes behind the page
    except ShopLensError as error:
        print(f"ShopLens cannot start: {error}", file=sys.stderr)
        return 1
    # Hugging Face Spaces (and Gradio's own convention) pass the address in GRADIO_SERVER_NAME/PORT.
    host = settings.host or os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    port = settings.port or int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    print(f"ShopLens is serving on http://{host}:{port}", flush=True)
    serve(shop, host, port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
