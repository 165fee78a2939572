"""Cost of personalisation at real model size: profile update after an event, re-ranking 100 hits.

    python bench/personal.py

Uses the bundled catalogue indexed with ViT-B-32 (random weights, real compute; the index under
``data/bench/index`` that ``bench/latency.py`` builds is reused) and, if ``python -m engine.recommend
train`` has saved a model there, the learned scorer (else the average-of-history fallback). Prints a
table comparing both costs with a plain text query.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.service import ShopLens  # noqa: E402
from engine.settings import BUNDLED_CATALOGUE, PROJECT_ROOT, Settings  # noqa: E402
from engine.types import Query  # noqa: E402

RUNS = 60


def ms(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def main() -> None:
    settings = Settings(_env_file=None, data_dir=PROJECT_ROOT / "data" / "bench" / "index", catalog=BUNDLED_CATALOGUE,
                        clip_model="ViT-B-32", clip_pretrained="none", device="cpu", top_k=12)  # fmt: skip
    shop = ShopLens(settings)
    shop.start(speech=False)
    products = shop.engine.snapshot.lexical.ids  # not personal.features: serving never builds every row
    shopper = f"bench-{time.time_ns()}"
    query, update, rerank = [], [], []
    for i in range(RUNS):
        clock = time.perf_counter()
        result = shop.search(Query(text=f"gift idea {i % 7}"))
        query.append(time.perf_counter() - clock)
        clock = time.perf_counter()
        shop.personal.record(shopper, "view", product_id=products[(i * 37) % len(products)])
        shop.personal.inputs(shopper)  # the shopper vector's inputs, rebuilt from the event log
        update.append(time.perf_counter() - clock)
        clock = time.perf_counter()
        shop.personal.rerank(shopper, result.pool)
        rerank.append(time.perf_counter() - clock)
    shop.events.forget_shopper(shopper)
    scorer = "learned scorer" if shop.personal.model is not None else "average-of-history fallback"
    print(f"\nPersonalisation cost, {RUNS} runs, {len(result.pool)} hits re-ranked, {scorer}, CLIP ViT-B-32 on CPU\n")
    print("| step | p50 ms | p95 ms | share of a text query (p50) |\n|---|---|---|---|")
    for name, values in (("text query (for scale)", query), ("record event + update profile", update),
                         ("re-rank the top 100 hits", rerank)):  # fmt: skip
        print(f"| {name} | {ms(values, 50):.1f} | {ms(values, 95):.1f} | {100 * np.median(values) / np.median(query):.0f}% |")


if __name__ == "__main__":
    main()
