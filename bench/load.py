"""Many clients at once over the HTTP API, on loopback: throughput, latency and errors.

    python bench/load.py --clients 50 --requests 10

Starts ShopLens in-process on 127.0.0.1 (the bundled catalogue, the tiny random CLIP by default, or
``--clip ViT-B-32`` for real compute), then runs ``--clients`` concurrent clients, each sending
``--requests`` searches through Gradio's queue (``/gradio_api/call/search_products``), then as many
through the plain JSON route (``/api/search_products``). Prints one Markdown table; any error is a failure of the app, and is counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo.server import BackgroundServer, create_app  # noqa: E402
from engine.service import ShopLens  # noqa: E402
from engine.settings import BUNDLED_CATALOGUE, PROJECT_ROOT, Settings  # noqa: E402

ROUTES = {"gradio": "Gradio queue (`/gradio_api/call/search_products`)", "rest": "plain JSON (`/api/search_products`)"}
WORDS = ["red shoes", "teddy bear", "50元以下的玩具", "blue bag under $80", "keybaord", "tee", "lamp", "跑步鞋", "gift",
         "green jacket", "not leather bag", "coffee"]  # fmt: skip


async def one_search(client: httpx.AsyncClient, base: str, words: str, route: str) -> tuple[float, str | None]:
    started = time.perf_counter()
    try:
        if route == "rest":
            answer = await client.post(f"{base}api/search_products", json={"query": words})
            answer.raise_for_status()
            payload = [answer.json()]
        else:  # Gradio's queue: every input in order, then the result's event stream
            data = [words, None, None, [], [], None, None, None, "", "relevance", 12, 0, "", "en"]
            call = await client.post(f"{base}gradio_api/call/search_products", json={"data": data})
            call.raise_for_status()
            stream = await client.get(f"{base}gradio_api/call/search_products/{call.json()['event_id']}")
            body = stream.text
            if not body.startswith("event: complete"):
                return time.perf_counter() - started, body[:200]
            payload = json.loads(body.split("data: ", 1)[1])
        if not payload[0]["products"]:
            return time.perf_counter() - started, "no products"
    except (httpx.HTTPError, KeyError, ValueError) as error:
        return time.perf_counter() - started, f"{type(error).__name__}: {error}"
    return time.perf_counter() - started, None


async def run_clients(base: str, clients: int, requests: int, route: str) -> tuple[list[float], list[str], float]:
    rng = random.Random(0)
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients * 2)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:

        async def client_loop() -> list[tuple[float, str | None]]:
            return [await one_search(client, base, rng.choice(WORDS), route) for _ in range(requests)]

        started = time.perf_counter()
        outcomes = await asyncio.gather(*(client_loop() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    flat = [outcome for outcomes_ in outcomes for outcome in outcomes_]
    return [seconds for seconds, _ in flat], [error for _, error in flat if error], elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=10, help="searches per client")
    parser.add_argument("--clip", default="shoplens-tiny", help="CLIP model (random weights); ViT-B-32 for real compute")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shoplens-load-") as data:
        settings = Settings(_env_file=None, data_dir=Path(data), catalog=BUNDLED_CATALOGUE, clip_model=args.clip,
                            clip_pretrained="none", clip_config_dir=PROJECT_ROOT / "assets" / "clip-configs")  # fmt: skip
        shop = ShopLens(settings)
        shop.start(speech=False)
        server = BackgroundServer(uvicorn.Config(create_app(shop), host="127.0.0.1", port=0, log_level="warning"))
        thread = server.start()
        port = server.servers[0].sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}/"
        try:
            results = {route: asyncio.run(run_clients(base, args.clients, args.requests, route)) for route in ROUTES}
        finally:
            server.stop(thread)
    print(f"\nLoad on 127.0.0.1: {args.clients} clients x {args.requests} searches per route, CLIP {args.clip} "
          f"(random weights), bundled catalogue\n")  # fmt: skip
    print("| route | clients | searches | errors | throughput (searches/s) | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|")
    for route, (durations, errors, elapsed) in results.items():
        total = len(durations)
        print(f"| {ROUTES[route]} | {args.clients} | {total} | {len(errors)} | {total / elapsed:.1f} "
              f"| {np.percentile(durations, 50) * 1000:.0f} | {np.percentile(durations, 95) * 1000:.0f} "
              f"| {max(durations) * 1000:.0f} |")  # fmt: skip
        for error in sorted(set(errors))[:5]:
            print(f"\n{route} error: {error}")


if __name__ == "__main__":
    main()
