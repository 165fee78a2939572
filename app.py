"""ShopLens web app: ``python app.py`` serves the bundled catalogue (settings: ``SHOPLENS_*``, see README)."""

from __future__ import annotations

import logging
import sys


def main() -> int:
    from demo.ui import build_ui, launch_options
    from engine.errors import ShopLensError
    from engine.service import ShopLens
    from engine.settings import Settings

    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    shop = ShopLens(settings)
    try:
        shop.start()
    except ShopLensError as error:
        print(f"ShopLens cannot start: {error}", file=sys.stderr)
        return 1
    build_ui(shop).launch(**launch_options(shop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
