"""Personalisation at catalogue scale: "For you", re-ranking and the shopper-vector update, N products vs 332.

    python bench/personal_scale.py --products 10000
    python bench/personal_scale.py --products 10000 100000 --runs 40

Synthetic products with random unit vectors (dim 512, as ViT-B-32) are written straight into an
embedded Chroma store through ``ProductStore.upsert`` (no images, no CLIP), under
``data/bench/personal-scale/`` and reused by later runs. 800 background shoppers engage with 50
"hit" products, so the private "popular" list has something to show. Query words get a fixed random
vector per text instead of CLIP's. The scorer is a learned ``ShopperModel`` with random weights (the
same compute as a trained one) unless ``--scorer average``.

Each size is served by a fresh process, so the peak RSS is that size's own; it includes the embedded
Chroma index, which holds the vectors. Prints a Markdown table; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.catalogue.products import Product  # noqa: E402
from engine.catalogue.records import ContentVersion, VectorMatch  # noqa: E402
from engine.catalogue.store import ProductStore  # noqa: E402
from engine.models.clip import VectorSpace  # noqa: E402
from engine.settings import PROJECT_ROOT, Settings  # noqa: E402
from engine.shoppers.events import EventStore  # noqa: E402
from engine.shoppers.model import ShopperModel  # noqa: E402
from engine.shoppers.personal import MODEL_FILE, Personaliser  # noqa: E402
from engine.shoppers.privacy import PrivateStats  # noqa: E402
from engine.types import Hit  # noqa: E402

BASELINE = 332  # the bundled catalogue's size
DIM = 512
SPACE = VectorSpace("bench:random-unit-vectors", DIM)
CATEGORIES = ["bags", "beauty", "books", "electronics", "garden", "home", "jewellery", "kitchen", "music", "office",
              "outdoor", "shoes", "sports", "toys"]  # fmt: skip
COLOURS = ["black", "blue", "brown", "green", "grey", "orange", "pink", "purple", "red", "silver", "white", "yellow"]
BATCH = 1000  # products per upsert (two records each)
HITS = 50  # products the background shoppers favour
WARM_UP = 3  # runs not timed
ROOT = PROJECT_ROOT / "data" / "bench" / "personal-scale"
LEARNED = "random-learned-scorer.pt"  # copied to MODEL_FILE when the learned scorer is benched


# --- the synthetic shop ------------------------------------------------------------------------
def products(n: int) -> list[Product]:
    """``n`` products, the same every time for the same ``n``."""
    rng = random.Random(n)
    return [
        Product(id=f"p{i:07d}", title=f"Product {i}", category=CATEGORIES[i % len(CATEGORIES)],
                colour=COLOURS[(i // len(CATEGORIES)) % len(COLOURS)], price=round(rng.lognormvariate(3.5, 1.0), 2),
                rating=round(rng.uniform(2.5, 5.0), 1), brand=f"brand {i % 97}", image=Path(f"/nowhere/p{i:07d}.png"))
        for i in range(n)
    ]  # fmt: skip


def unit_vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.standard_normal((count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def settings_for(folder: Path) -> Settings:
    return Settings(_env_file=None, data_dir=folder, chroma_url=None, collection="bench_personal")


def build(n: int) -> Path:
    """The store and event log of an ``n``-product shop (reused when already built)."""
    folder = ROOT / f"n{n}"
    if (folder / "built").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    settings = settings_for(folder)
    store = ProductStore(settings, SPACE)
    catalogue, rng = products(n), np.random.default_rng(n)
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        batch = catalogue[start : start + BATCH]
        store.upsert(batch, unit_vectors(rng, len(batch)), unit_vectors(rng, len(batch)), [ContentVersion("bench")] * len(batch))
    events, pick = EventStore(folder / "events.sqlite3"), random.Random(0)
    for shopper in range(800):
        for product in pick.sample(catalogue[:HITS], 3):
            events.record(f"background-{shopper}", pick.choice(["view", "cart", "purchase"]), product_id=product.id)
    ShopperModel(2 * DIM + 2 + len(CATEGORIES) + len(COLOURS), DIM).save(folder / LEARNED, {"space": SPACE.model_id})
    (folder / "built").write_text(f"{n} products written in {time.perf_counter() - started:.0f} s\n")
    return folder


# --- serving -----------------------------------------------------------------------------------
class WordVectors:
    """Stands in for CLIP's text tower: a fixed random unit vector per text, no model loaded."""

    space = SPACE

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return np.stack([unit_vectors(np.random.default_rng(zlib.crc32(t.encode())), 1)[0] for t in texts])


def timed(step: Callable[..., object], *args, **kwargs) -> float:
    clock = time.perf_counter()
    step(*args, **kwargs)
    return time.perf_counter() - clock


def percentiles(seconds: list[float]) -> tuple[float, float]:
    return float(np.percentile(seconds, 50)) * 1000, float(np.percentile(seconds, 95)) * 1000


def without_prefilter(store: ProductStore) -> None:
    """What-if, for this bench only: ``store.query`` without Chroma's metadata pre-filter.

    ``ProductStore.query`` asks Chroma for ``where={"kind": ...}``, and Chroma resolves that filter by
    reading the kind of every record before the HNSW search: O(catalogue) per query. This stand-in
    searches both kinds for 3·n records and keeps the asked kind (the filtered query when too few are left).
    """
    real = store.query

    def query(vector, kind, n, where=None):
        if where:
            return real(vector, kind, n, where)
        found = store._collection.query(query_embeddings=[np.asarray(vector, np.float32)], n_results=3 * max(1, n),
                                        include=["distances"])  # fmt: skip
        matches = [VectorMatch(rid.rsplit("#", 1)[0], 1.0 - float(distance))
                   for rid, distance in zip(found["ids"][0], found["distances"][0]) if rid.endswith(f"#{kind}")]  # fmt: skip
        return matches[:n] if len(matches) >= n else real(vector, kind, n)

    store.query = query  # type: ignore[method-assign]


class NeighbourClock:
    """Time spent in the store's nearest-neighbour queries (Chroma's own work), told apart from the rest."""

    def __init__(self, store: ProductStore) -> None:
        self.seconds, real = 0.0, store.query

        def query(*args, **kwargs):
            clock = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - clock

        store.query = query  # type: ignore[method-assign]


@dataclass(frozen=True)
class Shelf:
    """What a search snapshot offers the personaliser (``--provider snapshot``)."""

    products: list[Product]
    by_id: dict[str, Product]


def serve(n: int, runs: int, k: int, hits: int, scorer: str, provider: str, prefilter: bool) -> dict:
    """Time each operation ``runs`` times on the ``n``-product shop; p50, p95 in ms and peak RSS in MB."""
    folder = ROOT / f"n{n}"
    settings = settings_for(folder)
    store, events, catalogue = ProductStore(settings, SPACE), EventStore(folder / "events.sqlite3"), products(n)
    by_id = {p.id: p for p in catalogue}
    (folder / MODEL_FILE).unlink(missing_ok=True)
    if scorer == "learned":
        shutil.copy(folder / LEARNED, folder / MODEL_FILE)
    shelf = Shelf(catalogue, by_id)
    what = {"snapshot": lambda: shelf} if provider == "snapshot" else {"catalogue": lambda: catalogue}
    personal = Personaliser(store, WordVectors(), events, CATEGORIES, COLOURS,  # type: ignore[arg-type]
                            private=PrivateStats(settings, events, lambda: by_id.keys()), **what)  # fmt: skip
    if not prefilter:
        without_prefilter(store)
    neighbours = NeighbourClock(store)
    assert (personal.model is not None) == (scorer == "learned"), "the scorer asked for is not the one in use"
    pick, shopper = random.Random(1), f"bench-{time.time_ns()}"
    for product in pick.sample(catalogue, 10):
        personal.record(shopper, "view", product_id=product.id)
    personal.record_search(shopper, "red running shoes", "text")
    clock = time.perf_counter()
    personal.for_you("first-stranger", k=k)  # draws the private popularity release (then kept for 24 h)
    first = time.perf_counter() - clock
    timings: dict[str, list[float]] = {name: [] for name in ROWS}
    for i in range(WARM_UP + runs):
        personal.record(shopper, "view", product_id=pick.choice(catalogue).id)
        pool = [Hit(p, pick.random(), {}, ("image",)) for p in pick.sample(catalogue, hits)]
        measured = {"update": timed(personal.inputs, shopper)}
        before = neighbours.seconds
        measured["for_you"] = timed(personal.for_you, shopper, k=k)
        measured["neighbours"] = neighbours.seconds - before
        measured["rerank"] = timed(personal.rerank, shopper, pool)
        measured["cold"] = timed(personal.for_you, f"stranger-{i}", k=k)
        for name, seconds in measured.items():
            if i >= WARM_UP:
                timings[name].append(seconds)
    events.forget_shopper(shopper)
    return {"products": n, "first_cold": first * 1000, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            **{name: percentiles(values) for name, values in timings.items()}}  # fmt: skip


# --- the table ---------------------------------------------------------------------------------
ROWS = {
    "update": "shopper-vector update (after a new event)",
    "for_you": "For you (warm shopper)",
    "neighbours": "of which: the store's two nearest-neighbour queries",
    "rerank": "re-rank 100 hits",
    "cold": "For you, cold start",
}


ONCE = {
    "first_cold": "first cold start, ms (draws the popularity release, once per release period)",
    "peak_rss_mb": "peak RSS of the serving process, MB (includes the embedded Chroma index)",
}


def table(results: list[dict], runs: int, k: int, scorer: str, provider: str, prefilter: bool) -> str:
    base, others = results[0], results[1:]
    head = f"| operation | {base['products']:,} products p50 / p95 ms |"
    for r in others:
        head += f" {r['products']:,} products p50 / p95 ms | ratio p50 ({r['products']:,} / {base['products']}) |"
    store = "store queries as they are" if prefilter else "store queries without the kind pre-filter (what-if)"
    lines = [f"Personalisation at scale: {runs} runs each, k={k}, {scorer} scorer, {provider} provider, {store}, "
             f"random unit vectors (dim {DIM}) in embedded Chroma\n", head, "|---" * (2 + 2 * len(others)) + "|"]  # fmt: skip
    for key, label in ROWS.items():
        cells = [f"{base[key][0]:.1f} / {base[key][1]:.1f}"]
        for r in others:
            cells += [f"{r[key][0]:.1f} / {r[key][1]:.1f}", f"{r[key][0] / base[key][0]:.2f}×"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for key, label in ONCE.items():
        cells = [f"{base[key]:.0f}"]
        for r in others:
            cells += [f"{r[key]:.0f}", f"{r[key] / base[key]:.2f}×"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, nargs="+", default=[10_000], help="catalogue sizes to compare with 332")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--k", type=int, default=12)
    parser.add_argument("--hits", type=int, default=100)
    parser.add_argument("--scorer", choices=["learned", "average"], default="learned")
    parser.add_argument("--provider", choices=["catalogue", "snapshot"], default="catalogue",
                        help="what says which products are on sale: a product list (as service.py passes today), or a "
                             "snapshot with by_id, so products are not looked up in the store")  # fmt: skip
    parser.add_argument("--no-prefilter", dest="prefilter", action="store_false",
                        help="what-if: neighbour queries without Chroma's kind pre-filter (see without_prefilter)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # internal: serve one size, print JSON
    args = parser.parse_args()
    if args.serve:
        print(json.dumps(serve(args.serve, args.runs, args.k, args.hits, args.scorer, args.provider, args.prefilter)))
        return
    results = []
    for n in [BASELINE, *args.products]:
        if not (ROOT / f"n{n}" / "built").is_file():
            print(f"writing {n:,} synthetic products to Chroma ...", file=sys.stderr, flush=True)
        print(f"{build(n).joinpath('built').read_text().strip()}; serving ...", file=sys.stderr, flush=True)
        command = [sys.executable, __file__, "--serve", str(n), "--runs", str(args.runs), "--k", str(args.k),
                   "--hits", str(args.hits), "--scorer", args.scorer, "--provider", args.provider,
                   *([] if args.prefilter else ["--no-prefilter"])]  # fmt: skip
        results.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1]))
    print(table(results, args.runs, args.k, args.scorer, args.provider, args.prefilter))


if __name__ == "__main__":
    main()
