"""Index a product catalogue from the command line.

    python -m engine.index --catalog assets/catalogue/products.jsonl
    python -m engine.index --catalog products.csv --rebuild     # after changing the CLIP model

The work itself is :class:`engine.catalogue.indexer.Indexer`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from engine.catalogue.indexer import Indexer
from engine.catalogue.products import load_catalogue
from engine.catalogue.store import ProductStore
from engine.errors import ShopLensError
from engine.models.clip import ClipEmbedder
from engine.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.index", description="Index a product catalogue for ShopLens.")
    parser.add_argument("--catalog", type=Path, help="catalogue file (.jsonl or .csv); default SHOPLENS_CATALOG")
    parser.add_argument("--rebuild", action="store_true", help="drop the index first (e.g. after changing the model)")
    parser.add_argument("--batch-size", type=int, help="images or texts per model call")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    overrides = {key: value for key, value in (("catalog", args.catalog), ("batch_size", args.batch_size)) if value}
    settings = Settings(**overrides)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        catalogue = load_catalogue(settings.catalog)
        embedder = ClipEmbedder(settings)
        store = ProductStore(settings, embedder.space, rebuild=args.rebuild)
        report = Indexer(settings, embedder, store).sync(catalogue, progress=not args.quiet)
    except ShopLensError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for problem in report.skipped:
        print(f"skipped {problem}", file=sys.stderr)
    print(f"{settings.catalog}: {report.summary()}; {store.count()} products in {store.where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
