"""ShopLens web app: ``python app.py`` serves the bundled catalogue (settings: ``SHOPLENS_*``, see README)."""

from __future__ import annotations

import logging
import os
import sys


def main() -> int:
    from demo.server import serve
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
    # Hugging Face Spaces (and Gradio's own convention) pass the address in GRADIO_SERVER_NAME/PORT.
    host = settings.host or os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    port = settings.port or int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    print(f"ShopLens is serving on http://{host}:{port}", flush=True)
    serve(shop, host, port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
