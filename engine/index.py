"""Index a product catalogue from the command line.

    python -m engine.index --catalog assets/catalogue/products.jsonl
    python -m engine.index --catalog products.csv --rebuild     # after changing the CLIP model

One writer at a time per data directory (:mod:`engine.catalogue.lock`): a second one stops at once
with the name of the process it would wait for, or waits ``--wait SECONDS``. A running app picks the
new index up without a restart.

The work itself is :class:`engine.catalogue.indexer.Indexer`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from engine.catalogue.indexer import Indexer
from engine.catalogue.lock import WriterLock
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
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long for another process writing the same index (default: do not wait)")  # fmt: skip
    args = parser.parse_args(argv)
    overrides = {key: value for key, value in (("catalog", args.catalog), ("batch_size", args.batch_size)) if value}
    settings = Settings(**overrides)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        catalogue = load_catalogue(settings.catalog)
        with WriterLock(settings.data_dir, "python -m engine.index").acquire(args.wait):
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
