"""Search at catalogue scale: build time, memory, latency per query kind and HNSW recall, N products vs 332.

    python bench/scale.py                                   # 332, 10k and 100k products
    python bench/scale.py --products 332 10000 100000 1000000 --queries 200
    python bench/scale.py --blas --products 332 100000      # numpy's BLAS: one thread vs its own pool

A synthetic catalogue (``bench/scale_shop.py``: titles, descriptions and tags from word lists, 14 categories, 12 colours,
lognormal prices, ratings) is written straight into a fresh embedded Chroma store through
``ProductStore.upsert`` in batches, with 512-dimensional unit vectors for image and text and no
images or model: ``--vectors clustered`` (the default) draws a product's vectors around its
category and colour inside a 64-dimensional random subspace plus noise, with an offset between the
image and text spaces, as CLIP's vectors lie; ``--vectors uniform`` draws them uniformly from the
sphere, the hardest case for HNSW. Stores live under ``data/bench/scale/`` and are reused.

Model time is excluded honestly: the engine is given a stand-in embedder whose ``embed_texts`` and
``embed_images`` return a precomputed vector at once (a text's vector is drawn near the category
and colour its words name; a photo's near one product's image vector), so everything else a search
does (reading the words, BM25, the two vector queries, filters, fusion, facets, explanations) is
timed as the app runs it; nothing in the engine is changed or bypassed. A photo query still decodes
a small JPEG (a few ms), as a real one would.

Each size is built and then served by fresh processes, so each figure is that size's own. Per
size: build time, first snapshot (products and vectors read from Chroma, BM25 built, all three saved) and a
restart (products, BM25 and vectors loaded from disk); p50/p95 of text, filtered, photo and filters-only searches
(in blocks alternating with the same searches on the 332-product store, opened in the same process, so
both sides of the p95 ratio share this machine's slow spells; RSS includes that small store), BM25 alone,
"For you" (ShopLens.personal.for_you, warm shoppers); RSS while serving (now, from
``/proc/self/status``; peak, from ``getrusage``); how soon a new index version is searchable after another
process re-wrote 100 products (``bench/scale_pickup.py``: read as changes, by the serving app and by a restarted one, against
reading the whole index; this moves the stored catalogue's version on, not its content); recall@10 of
Chroma's HNSW against an exact numpy scan for 100 queries at several ef_search values (``bench/scale_recall.py``). Prints Markdown
tables; nothing is asserted.

``--blas`` compares, on the sizes already built, searches with numpy's BLAS on one thread (as the
engine runs it, :func:`engine.models.devices.one_blas_thread`) against BLAS's own thread pool (as
many threads as cores), in alternating blocks of queries within one process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scale_pickup as pickup  # noqa: E402
from bench.scale_recall import EF_VALUES, recall  # noqa: E402
from bench.scale_shop import DIM, InstantEmbedder, Shop, query_kinds, words  # noqa: E402
from engine.catalogue import chroma  # noqa: E402
from engine.catalogue.records import ContentVersion  # noqa: E402
from engine.catalogue.store import ProductStore  # noqa: E402
from engine.models.clip import VectorSpace  # noqa: E402
from engine.search.engine import SearchEngine  # noqa: E402
from engine.search.snapshot import PRODUCTS, VECTORS  # noqa: E402
from engine.settings import PROJECT_ROOT, Settings  # noqa: E402
from engine.types import Query  # noqa: E402

BASELINE = 332  # the bundled catalogue's size
BATCH = 1000  # products per upsert (two records each)
FOR_YOU_SHOPPERS = 20
ROOT = PROJECT_ROOT / "data" / "bench" / "scale"

def settings_for(size: int, vectors: str) -> Settings:
    return Settings(_env_file=None, data_dir=ROOT / f"{vectors}-{size}", chroma_url=None, collection="bench_scale",
                    index_poll_seconds=0)  # fmt: skip


# --- building -------------------------------------------------------------------------------------------
def build(size: int, vectors: str) -> dict:
    """Write the synthetic catalogue into a fresh store (or report the earlier build)."""
    settings = settings_for(size, vectors)
    marker = settings.data_dir / "built.json"
    if marker.is_file():
        return json.loads(marker.read_text())
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    shop = Shop(size, vectors)
    store = ProductStore(settings, InstantEmbedder(shop).space)
    started = time.perf_counter()
    with store.writing():
        for start in range(0, size, BATCH):
            products = shop.products(start, min(size, start + BATCH))
            store.upsert(products, shop.vectors(products, "image"), shop.vectors(products, "text"),
                         [ContentVersion("bench")] * len(products))  # fmt: skip
    seconds = time.perf_counter() - started
    report = {"size": size, "build_s": seconds, "build_peak_mb": peak_rss_mb(), "disk_mb": disk_mb(settings.chroma_path)}
    marker.write_text(json.dumps(report))
    return report


# --- serving --------------------------------------------------------------------------------------------
def first_start(size: int, vectors: str) -> dict:
    """A first start: the products and their vectors read from Chroma, BM25 built, both saved."""
    settings = settings_for(size, vectors)
    shutil.rmtree(settings.data_dir / "lexical", ignore_errors=True)
    clock = time.perf_counter()
    engine = SearchEngine(settings, InstantEmbedder(Shop(size, vectors)), ProductStore(settings, VectorSpace(f"bench:{vectors}", DIM)),
                          speech=None)  # fmt: skip
    engine.refresh()
    seconds = time.perf_counter() - clock
    saved = list((settings.data_dir / "lexical").glob("*/*"))
    def size(part: str) -> float:
        return sum(disk_mb(f) for f in saved if f.name.startswith(part) and f.name[len(part) :].isdigit())

    return {"cold_start_s": seconds, "bm25_disk_mb": size("v"), "vectors_disk_mb": size(VECTORS), "products_disk_mb": size(PRODUCTS)}


def serve(size: int, vectors: str, queries: int) -> dict:
    """Open the built store as a restarted app would (products, BM25 and vectors loaded) and time every kind of
    search, in blocks that alternate with the same searches on the 332-product store opened beside it."""
    settings, shop = settings_for(size, vectors), Shop(size, vectors)
    embedder = InstantEmbedder(shop)
    report: dict = {"size": size}
    clock = time.perf_counter()
    store = ProductStore(settings, embedder.space)
    engine = SearchEngine(settings, embedder, store, speech=None)
    engine.refresh()
    report["warm_start_s"] = time.perf_counter() - clock
    report["rss_started_mb"] = current_rss_mb()
    timers = {size: Searches(engine, shop)}
    if size != BASELINE and (settings_for(BASELINE, vectors).data_dir / "built.json").is_file():
        timers[BASELINE] = Searches.open(BASELINE, vectors)
    alternate(list(timers.values()), queries)
    report.update(timers[size].timings)
    if BASELINE in timers:
        report["baseline"] = timers[BASELINE].timings
    report["for_you"] = for_you(settings, engine, store, embedder, queries)
    report["rss_serving_mb"], report["peak_rss_mb"] = current_rss_mb(), peak_rss_mb()
    report["pick_up"] = pickup.pick_up_a_change(settings, engine, lambda flag, *extra: run_child(flag, str(size), "--vectors", vectors, *extra))
    chroma.RETIRE_SECONDS = 0  # no search is in flight: a client replaced for another ef is closed at once
    report["hnsw"] = store.hnsw  # the graph this size was built with, and the ef_search it was served at
    report["recall"] = recall(store, shop)
    return report


class Searches:
    """Times searches of every kind on one engine, model time excluded (the stand-in embedder costs nothing)."""

    def __init__(self, engine: SearchEngine, shop: Shop) -> None:
        self.engine, self.shop = engine, shop
        self.rng = np.random.default_rng(11)
        self.kinds = query_kinds(self.rng)
        self.timings: dict[str, list[float]] = {kind: [] for kind in [*self.kinds, "bm25"]}
        for _ in range(5):  # warm-up: caches, lazily loaded index files
            engine.search(Query(text=words(self.rng)))

    @classmethod
    def open(cls, size: int, vectors: str) -> Searches:
        settings, shop = settings_for(size, vectors), Shop(size, vectors)
        embedder = InstantEmbedder(shop)
        engine = SearchEngine(settings, embedder, ProductStore(settings, embedder.space), speech=None)
        engine.refresh()
        return cls(engine, shop)

    def round(self) -> None:
        """One search of each kind, and BM25 alone."""
        for kind, make in self.kinds.items():
            query = make()
            self.engine.embedder.photo = self.shop.photo_vector(self.rng)
            clock = time.perf_counter()
            result = self.engine.search(query)
            self.timings[kind].append(time.perf_counter() - clock - result.timings.get("embedding", 0.0))
        text = words(self.rng)
        clock = time.perf_counter()
        self.engine.snapshot.lexical.best(text, 100)
        self.timings["bm25"].append(time.perf_counter() - clock)


def alternate(timers: list[Searches], rounds: int, block: int = 10,
              around: Callable[[Searches], AbstractContextManager] = lambda timer: nullcontext()) -> None:  # fmt: skip
    """``rounds`` rounds on each, in blocks of ``block`` taking turns (who goes first alternates too), so a
    slow spell of this shared machine falls on both sides of a ratio alike; each block runs inside
    ``around(timer)``."""
    for start in range(0, rounds, block):
        order = timers if (start // block) % 2 == 0 else timers[::-1]
        for timer in order:
            with around(timer):
                for _ in range(min(block, rounds - start)):
                    timer.round()


def blas_side_by_side(size: int, vectors: str, queries: int) -> dict[str, list[float]]:
    """Seconds per search of each kind with BLAS on one thread and on its own pool, in alternating blocks."""
    from threadpoolctl import threadpool_limits

    one = Searches.open(size, vectors)  # the engine puts BLAS on one thread
    pool = Searches(one.engine, one.shop)
    threads = {id(one): 1, id(pool): os.cpu_count()}
    alternate([pool, one], queries, around=lambda timer: threadpool_limits(limits=threads[id(timer)], user_api="blas"))
    return {f"{kind}|{arm}": timer.timings[kind] for arm, timer in (("one", one), ("pool", pool)) for kind in timer.kinds}


def blas_table(sizes: dict[int, dict[str, list[float]]]) -> str:
    lines = [f"numpy's BLAS on one thread (ShopLens) vs its own pool of {os.cpu_count()} threads, model time excluded (ms), "
             "alternating blocks of 10 searches per kind", "",
             "| products | kind | pool p50 | pool p95 | one p50 | one p95 | p95 one / pool |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for n, timings in sorted(sizes.items()):
        for kind in ("text", "filtered", "photo", "filters only"):
            pool, one = timings[f"{kind}|pool"], timings[f"{kind}|one"]
            lines.append(f"| {n:,} | {kind} | {ms(pool, 50):.1f} | {ms(pool, 95):.1f} | {ms(one, 50):.1f} | {ms(one, 95):.1f} | "
                         f"{ms(one, 95) / ms(pool, 95):.2f} |")  # fmt: skip
    return "\n".join(lines)


def for_you(settings: Settings, engine: SearchEngine, store: ProductStore, embedder: InstantEmbedder, count: int) -> list[float]:
    """Seconds per "For you" row of warm shoppers, through the app's own Personaliser."""
    from engine.service import ShopLens

    shop = ShopLens(settings)
    shop.embedder = embedder
    shop.__dict__.update(store=store, engine=engine)
    ids = engine.snapshot.lexical.ids
    rng = np.random.default_rng(5)
    shoppers = [f"bench-{n}" for n in range(FOR_YOU_SHOPPERS)]
    for shopper in shoppers:
        for i in rng.integers(len(ids), size=8):
            shop.personal.record(shopper, "view", product_id=ids[int(i)])
    for shopper in shoppers[:3]:  # warm-up
        shop.personal.for_you(shopper, k=12)
    timings = []
    for n in range(count):
        clock = time.perf_counter()
        shop.personal.for_you(shoppers[n % len(shoppers)], k=12)
        timings.append(time.perf_counter() - clock)
    return timings


# --- measuring ------------------------------------------------------------------------------------------
def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def disk_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) / 2**20


def ms(seconds: list[float], q: float) -> float:
    return float(np.percentile(seconds, q)) * 1000


# --- the tables -----------------------------------------------------------------------------------------
def tables(built: dict[int, dict], served: dict[int, dict]) -> str:
    sizes = sorted(served)
    base = served.get(BASELINE)
    lines = ["Build and memory (RSS of the serving process: started = snapshot loaded; serving = after every query)", "",
             "| products | build s | records/s | first start s (read, BM25 built) | restart s (products, BM25, vectors loaded) | "
             "RSS started MB | RSS serving MB | peak RSS MB | Chroma on disk MB | products on disk MB | BM25 on disk MB | "
             "vectors on disk MB |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for n in sizes:
        b, s = built[n], served[n]
        lines.append(f"| {n:,} | {b['build_s']:.0f} | {2 * n / b['build_s']:.0f} | {b['cold_start_s']:.1f} | {s['warm_start_s']:.1f} | "
                     f"{s['rss_started_mb']:.0f} | {s['rss_serving_mb']:.0f} | {s['peak_rss_mb']:.0f} | {b['disk_mb']:.0f} | "
                     f"{b.get('products_disk_mb', 0):.0f} | {b['bm25_disk_mb']:.1f} | {b.get('vectors_disk_mb', 0):.0f} |")  # fmt: skip
    kinds = ["text", "filtered", "photo", "filters only", "bm25", "for_you"]
    lines += ["", "Latency, model time excluded (ms); ratio = p95 / p95 of the 332-product store timed beside it in the same process, "
              "in alternating blocks of 10 rounds (its own row is its own run)", "",
              "| products | " + " | ".join(f"{k} p50 | {k} p95" for k in kinds) + " | p95 ratio (text, filtered, photo) | filtered p50 / text p50 |",
              "|---|" + "---|---|" * len(kinds) + "---|---|"]  # fmt: skip
    for n in sizes:
        s = served[n]
        cells = " | ".join(f"{ms(s[k], 50):.1f} | {ms(s[k], 95):.1f}" for k in kinds)
        against, note = baseline_of(n, s, base)
        ratio = ", ".join(f"{ms(s[k], 95) / ms(against[k], 95):.2f}" for k in ("text", "filtered", "photo")) + note \
            if against else "-"  # fmt: skip
        lines.append(f"| {n:,} | {cells} | {ratio} | {ms(s['filtered'], 50) / ms(s['text'], 50):.2f} |")
    lines += pickup.table(sizes, served)
    lines += ["", "recall@10 of Chroma's HNSW against an exact scan (100 queries: 50 photo-like on image vectors, "
              "50 text-like on text vectors); `10` = asking for 10, `100` = asking for 100 as the engine does", "",
              "| products | HNSW M / ef_construction, ef_search served | " + " | ".join(f"ef {ef}: 10 / 100" for ef in EF_VALUES) + " |",
              "|---|---|" + "---|" * len(EF_VALUES)]  # fmt: skip
    for n in sizes:
        r, hnsw = served[n]["recall"], served[n].get("hnsw", {})
        graph = f"{hnsw.get('max_neighbors')} / {hnsw.get('ef_construction')}, {hnsw.get('ef_search')}"
        lines.append(f"| {n:,} | {graph} | " + " | ".join(f"{r[str(ef)]['10']:.3f} / {r[str(ef)]['100']:.3f}" for ef in EF_VALUES) + " |")
    return "\n".join(lines)


def baseline_of(size: int, served: dict, base: dict | None) -> tuple[dict | None, str]:
    """What a size's p95 ratio is taken against: the 332 store timed beside it (or itself, at 332); else
    the separate 332 run, marked unpaired."""
    if size == BASELINE:
        return served, ""
    if "baseline" in served:
        return served["baseline"], ""
    return base, " (unpaired)"


def run_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, nargs="+", default=[BASELINE, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200, help="searches of each kind per size")
    parser.add_argument("--vectors", choices=["clustered", "uniform"], default="clustered")
    parser.add_argument("--max-build-minutes", type=float, default=40.0,
                        help="skip a size whose build the sizes before it say would take longer")  # fmt: skip
    children = {  # each runs in a child process of its own, for one size, and prints its report as JSON
        "build": lambda n: build(n, args.vectors),
        "first_start": lambda n: first_start(n, args.vectors),
        "serve": lambda n: serve(n, args.vectors, args.queries),
        "blas_size": lambda n: blas_side_by_side(n, args.vectors, args.queries),
        "rewrite": lambda n: pickup.rewrite(settings_for(n, args.vectors), Shop(n, args.vectors), args.seed),
        "restart": lambda n: pickup.restart(settings_for(n, args.vectors), Shop(n, args.vectors)),
    }
    for child in children:
        parser.add_argument(f"--{child.replace('_', '-')}", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)  # --rewrite: which products
    parser.add_argument("--blas", action="store_true", help="BLAS on one thread vs its own pool, on built sizes")
    args = parser.parse_args()
    for child, run in children.items():
        if getattr(args, child):
            print(json.dumps(run(getattr(args, child))))
            return
    if args.blas:
        sizes = [n for n in args.products if (settings_for(n, args.vectors).data_dir / "built.json").is_file()]
        print(blas_table({n: run_child("--blas-size", str(n), "--vectors", args.vectors, "--queries", str(args.queries))
                          for n in sizes}))  # fmt: skip
        return
    built, served = {}, {}
    for size in sorted(set(args.products) | {BASELINE}):
        estimate = estimated_build_minutes(built, size, args.vectors)
        if estimate > args.max_build_minutes:
            print(f"skipping {size:,} products: building them would take about {estimate:.0f} minutes here", file=sys.stderr)
            continue
        built[size] = run_child("--build", str(size), "--vectors", args.vectors)
        built[size].update(run_child("--first-start", str(size), "--vectors", args.vectors))
        served[size] = run_child("--serve", str(size), "--vectors", args.vectors, "--queries", str(args.queries))
        print(f"{size:,} products: built in {built[size]['build_s']:.0f} s, peak RSS serving {served[size]['peak_rss_mb']:.0f} MB",
              file=sys.stderr)  # fmt: skip
    print(tables(built, served))


def estimated_build_minutes(built: dict[int, dict], size: int, vectors: str) -> float:
    """From the largest size built so far, with records per second falling as log n grows (HNSW inserts)."""
    larger = [n for n in built if n > BASELINE]
    if (settings_for(size, vectors).data_dir / "built.json").is_file() or not larger:
        return 0.0
    largest = max(larger)
    rate = 2 * largest / built[largest]["build_s"] * np.log(largest) / np.log(size)
    return 2 * size / rate / 60


if __name__ == "__main__":
    main()
