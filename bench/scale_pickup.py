"""How soon a new index version is searchable after another process re-wrote some products (``bench/scale.py``).

Three arms, each after its own re-write by a process of its own: the serving engine reading only the
products written (with text searches running on it meanwhile, to show whether they stall), an app
restarted after the change reading only those against the version it saved, and the same with nothing
saved, reading the whole index (as every new version was read before).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from bench.scale_shop import InstantEmbedder, Shop, words
from engine.catalogue.records import ContentVersion
from engine.catalogue.store import ProductStore
from engine.search.engine import SearchEngine
from engine.settings import Settings
from engine.types import Query

REWRITTEN = 100  # products another process re-writes while the app serves


def pick_up_a_change(settings: Settings, engine: SearchEngine, child: Callable[..., dict]) -> dict[str, float]:
    """Seconds until each arm has the new version; ``child(flag, *args)`` runs ``bench/scale.py``'s child process
    ``flag`` (``--rewrite``, ``--restart``) for this size and returns its report."""
    timings: dict[str, float] = {}
    for seed, arm in enumerate(("serving", "restart", "whole")):
        child("--rewrite", "--seed", str(seed))
        if arm == "whole":
            shutil.rmtree(settings.data_dir / "lexical", ignore_errors=True)  # nothing saved to catch up from
        if arm != "serving":
            timings[arm] = child("--restart")["seconds"]
            continue
        with searching_beside(engine) as searches:
            clock = time.perf_counter()
            engine.refresh()
            timings[arm] = time.perf_counter() - clock
        timings |= {"searches": len(searches), "search_p50": float(np.median(searches)), "search_max": max(searches)}
    return timings


def rewrite(settings: Settings, shop: Shop, seed: int) -> dict:
    """Re-write ``REWRITTEN`` products (the same content: a new version, the same catalogue), as an indexer would."""
    store = ProductStore(settings, InstantEmbedder(shop).space)
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(shop.size, size=min(REWRITTEN, shop.size), replace=False))
    products = [shop.product(int(i)) for i in chosen]
    store.upsert(products, shop.vectors(products, "image"), shop.vectors(products, "text"), [ContentVersion("bench")] * len(products))
    return {"version": str(store.catalogue_version())}


def restart(settings: Settings, shop: Shop) -> dict:
    """An app starting over the store: seconds until its snapshot is built."""
    embedder = InstantEmbedder(shop)
    clock = time.perf_counter()
    SearchEngine(settings, embedder, ProductStore(settings, embedder.space), speech=None).refresh()
    return {"seconds": time.perf_counter() - clock}


@contextmanager
def searching_beside(engine: SearchEngine) -> Iterator[list[float]]:
    """Text searches on ``engine`` in a thread for as long as the block runs: the seconds each took."""
    seconds: list[float] = []
    done, rng = threading.Event(), np.random.default_rng(12)

    def search() -> None:
        while not done.is_set():
            clock = time.perf_counter()
            engine.search(Query(text=words(rng)))
            seconds.append(time.perf_counter() - clock)

    thread = threading.Thread(target=search)
    thread.start()
    try:
        yield seconds
    finally:
        done.set()
        thread.join()


def table(sizes: list[int], served: dict[int, dict]) -> list[str]:
    """The Markdown lines of the pick-up table."""
    lines = ["", f"A new index version searchable after another process re-wrote {REWRITTEN} products (s): the serving app "
             "reading only those while text searches run on it; an app restarted after the change (a process of its own) "
             "reading only those against the version it saved; the same with nothing saved, reading the whole index "
             "(as every new version was read before)", "",
             "| products | serving app | restarted app | restarted, whole index | whole / restarted | "
             "searches meanwhile: p50 ms | longest ms |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for n in sizes:
        if "pick_up" in served[n]:
            p = served[n]["pick_up"]
            lines.append(f"| {n:,} | {p['serving']:.2f} | {p['restart']:.2f} | {p['whole']:.2f} | {p['whole'] / p['restart']:.1f} | "
                         f"{1000 * p['search_p50']:.0f} | {1000 * p['search_max']:.0f} |")  # fmt: skip
    return lines
