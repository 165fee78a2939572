"""CLIP runtimes against fp32 torch: query embedding speed and accuracy, start-up, indexing throughput.

    python bench/embedding.py                        # fp32 torch against onnx and onnx-int8
    python bench/embedding.py --runtimes onnx-int8 --queries 100 --rounds 3
    python bench/embedding.py --threads 1            # one core each: ratios that load from others hardly moves

CLIP is ViT-B-32 with random weights (the same compute as the pretrained model; no download needed),
on the bundled catalogue. Every runtime loads the same weights. Timings interleave (one query in each
runtime in turn, one indexing run of each kind in turn), so load from other processes falls on all
alike; compare the ratios more than the absolute times. Prints Markdown tables; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.goals import Goal, record  # noqa: E402
from engine.catalogue.images import load_image  # noqa: E402
from engine.catalogue.indexer import Indexer  # noqa: E402
from engine.catalogue.products import Catalogue, load_catalogue  # noqa: E402
from engine.catalogue.store import ProductStore  # noqa: E402
from engine.models.clip import ClipEmbedder  # noqa: E402
from engine.settings import BUNDLED_CATALOGUE, Settings  # noqa: E402

ACCURACY_ITEMS = 200


def settings_for(runtime: str, folder: Path, **overrides) -> Settings:
    values = dict(clip_model="ViT-B-32", clip_pretrained="none", clip_runtime=runtime, device="cpu",
                  data_dir=folder / "data", catalog=BUNDLED_CATALOGUE)  # fmt: skip
    return Settings(_env_file=None, **{**values, **overrides})


def ms(seconds: list[float], q: float) -> str:
    return f"{np.percentile(seconds, q) * 1000:.0f}"


# --- start-up -----------------------------------------------------------------------------------------
def load(settings: Settings) -> tuple[ClipEmbedder, float]:
    started = time.perf_counter()
    embedder = ClipEmbedder(settings)
    embedder.warm_up()
    return embedder, time.perf_counter() - started


def start_up(runtimes: list[str], folder: Path) -> dict[str, ClipEmbedder]:
    """Load every runtime: fast ones twice, exporting into an empty cache, then from that cache (a restart)."""
    load(settings_for("torch", folder))  # untimed: the imports and the first model build
    embedders, rows = {}, []
    embedders["torch"], seconds = load(settings_for("torch", folder))
    rows.append(f"| torch | {seconds:.1f} | |")
    for runtime in runtimes:
        settings = settings_for(runtime, folder, model_cache_dir=folder / "model-cache")
        _, first = load(settings)
        embedders[runtime], again = load(settings)
        rows.append(f"| {embedders[runtime].runtime} | {again:.1f} | {first:.1f} |")
    print("CLIP ViT-B-32 start-up (build the model, load or export the runtime, check it, warm up)\n")
    print("| runtime | load with cached export s | first load, exporting s |\n|---|---|---|")
    print("\n".join(rows) + "\n")
    return embedders


# --- (a) query embedding ---------------------------------------------------------------------------
def query_latency(embedders: dict[str, ClipEmbedder], catalogue: Catalogue, queries: int, goals: Path | None) -> None:
    products = catalogue.products[:ACCURACY_ITEMS]
    texts = [product.embedding_text() for product in products]
    images = [load_image(product.image, max_bytes=10**8, max_pixels=10**8) for product in products]
    print(f"Query embedding at batch 1 (tokenise or preprocess + forward + normalise), {queries} queries per kind, "
          f"interleaved; cosine with stock fp32 torch (open_clip's own forward, all 77 text tokens) over {len(products)} catalogue texts and {len(products)} images\n")  # fmt: skip
    print("| query | runtime | stock fp32 torch p50 ms | stock fp32 torch p95 ms | runtime p50 ms | runtime p95 ms "
          "| speed-up (p50) | cosine min | cosine mean |\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    for kind, inputs, method in (("text", texts, "embed_texts"), ("image", images, "embed_images")):
        calls = {"stock": stock(embedders["torch"], kind)}
        calls.update({runtime: getattr(embedder, method) for runtime, embedder in embedders.items()})
        times = interleaved(calls, inputs[:queries])
        reference = calls["stock"](inputs)
        for runtime, embed in calls.items():
            if runtime == "stock" or (runtime == "torch" and kind == "image"):  # the image tower is stock in torch
                continue
            cosines = (embed(inputs) * reference).sum(axis=1)
            speed_up = np.median(times["stock"]) / np.median(times[runtime])
            print(f"| {kind} | {label(embedders[runtime], kind)} | {ms(times['stock'], 50)} | {ms(times['stock'], 95)} "
                  f"| {ms(times[runtime], 50)} | {ms(times[runtime], 95)} | {speed_up:.2f}× "
                  f"| {cosines.min():.4f} | {cosines.mean():.4f} |")  # fmt: skip
            record(goals, Goal(f"query embedding, {kind}, {label(embedders[runtime], kind)}",
                               f"stock fp32 torch p50 {ms(times['stock'], 50)} ms", f"p50 {ms(times[runtime], 50)} ms",
                               speed_up, "speed-up ≥ 2", bool(speed_up >= 2 and cosines.min() >= 0.99),
                               f"cosine to fp32 min {cosines.min():.4f} over {len(inputs)} (≥ 0.99)"))  # fmt: skip
    print()


def stock(embedder: ClipEmbedder, kind: str) -> Callable[[list], np.ndarray]:
    """open_clip's own fp32 forward pass, as a program calling the library would run it: all 77 text tokens."""
    if kind == "image":
        return embedder.embed_images
    clip = embedder._clip

    def embed(texts: list[str]) -> np.ndarray:
        with torch.no_grad():
            return torch.nn.functional.normalize(clip.model.encode_text(clip.tokenizer(texts)), dim=-1).numpy()

    return embed


def label(embedder: ClipEmbedder, kind: str) -> str:
    cut = kind == "text" and embedder._clip.cut_padding
    return f"{embedder.runtime}{', padding cut' if cut else ''}"


def interleaved(calls: dict[str, Callable], inputs: list) -> dict[str, list[float]]:
    """Seconds per single-item call of each runtime, taking turns (the order rotates every query)."""
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # one untimed call each
        calls[name](inputs[:1])
    for i, item in enumerate(inputs):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            started = time.perf_counter()
            calls[name]([item])
            times[name].append(time.perf_counter() - started)
    return times


# --- (b) indexing and (c) the re-run ----------------------------------------------------------------
def indexing(embedders: dict[str, ClipEmbedder], catalogue: Catalogue, folder: Path, rounds: int,
             goals: Path | None) -> None:  # fmt: skip
    images = [load_image(product.image, max_bytes=10**8, max_pixels=10**8) for product in catalogue.products]
    texts = [product.embedding_text() for product in catalogue.products]
    count = len(catalogue.products)
    print(f"Indexing the bundled catalogue ({count} products, batch {next(iter(embedders.values())).settings.batch_size}), "
          f"{rounds} rounds, each runtime and kind in turn (the order alternates); median. Pure encoding = embed_images + "
          "embed_texts per batch, images already decoded in memory; indexer = a full sync into a fresh embedded Chroma; "
          "indexer / pure = median of each round's ratio\n")  # fmt: skip
    print("| runtime | pure encoding products/s | indexer products/s | indexer / pure |\n|---|---|---|---|")
    opened = OpenedFiles({product.image for product in catalogue.products})
    pure: dict[str, list[float]] = {runtime: [] for runtime in embedders}
    full: dict[str, list[float]] = {runtime: [] for runtime in embedders}
    reruns = {}
    for round_ in range(rounds):
        for runtime, embedder in embedders.items():
            for kind in ("pure", "indexer") if round_ % 2 == 0 else ("indexer", "pure"):
                if kind == "pure":
                    pure[runtime].append(count / encode_only(embedder, images, texts))
                else:
                    seconds, reruns[runtime] = index_fresh(embedder, folder / f"index-{runtime}-{round_}", opened)
                    full[runtime].append(count / seconds)
    for runtime, embedder in embedders.items():
        ratio = np.median(np.array(full[runtime]) / np.array(pure[runtime]))
        print(f"| {embedder.runtime} | {np.median(pure[runtime]):.1f} | {np.median(full[runtime]):.1f} | {ratio:.2f} |")
        record(goals, Goal(f"indexing, {embedder.runtime}", f"pure batched encoding {np.median(pure[runtime]):.1f} products/s",
                           f"{np.median(full[runtime]):.1f} products/s", float(ratio), "≥ 0.85", bool(ratio >= 0.85)))  # fmt: skip
    print("\nRe-running the indexer over the unchanged catalogue (same store, right after a full index)\n")
    print("| runtime | seconds | products unchanged | image files opened | model calls |\n|---|---|---|---|---|")
    for runtime, (seconds, unchanged, files, calls) in reruns.items():
        print(f"| {embedders[runtime].runtime} | {seconds:.2f} | {unchanged} of {count} | {files} | {calls} |")
    print()


def encode_only(embedder: ClipEmbedder, images: list, texts: list[str]) -> float:
    size = embedder.settings.batch_size
    started = time.perf_counter()
    for start in range(0, len(images), size):
        embedder.embed_images(images[start : start + size])
        embedder.embed_texts(texts[start : start + size])
    return time.perf_counter() - started


def index_fresh(embedder: ClipEmbedder, folder: Path, opened: OpenedFiles) -> tuple[float, tuple]:
    """Seconds of a full index into a new store, and (seconds, unchanged, image files opened, model calls) of a re-run."""
    settings = embedder.settings.model_copy(update={"data_dir": folder})
    store = ProductStore(settings, embedder.space)
    indexer = Indexer(settings, embedder, store)
    started = time.perf_counter()
    indexer.sync(load_catalogue(settings.catalog), progress=False)
    seconds = time.perf_counter() - started
    calls = embedder.calls
    with opened.recording() as paths:
        report = indexer.sync(load_catalogue(settings.catalog), progress=False)
    return seconds, (report.seconds, report.unchanged, len(paths), embedder.calls - calls)


class OpenedFiles:
    """Which of ``files`` Python opens while recording, in any thread (the ``open`` audit event)."""

    def __init__(self, files: set[Path]) -> None:
        self.files, self.paths, self._recording = files, [], False
        sys.addaudithook(self._audit)  # a hook cannot be removed: one per run, idle unless recording

    @contextmanager
    def recording(self) -> Iterator[list[Path]]:
        self.paths, self._recording = [], True
        try:
            yield self.paths
        finally:
            self._recording = False

    def _audit(self, event: str, args: tuple) -> None:
        if self._recording and event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            path = Path(os.fsdecode(args[0]))
            if path in self.files:
                self.paths.append(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", nargs="+", default=["onnx", "onnx-int8"], choices=["onnx", "onnx-int8"])
    parser.add_argument("--queries", type=int, default=60, help="timed queries per kind")
    parser.add_argument("--rounds", type=int, default=3, help="indexing runs per runtime and kind")
    parser.add_argument("--threads", type=int, help="torch and ONNX Runtime threads (default: torch's, one per core)")
    parser.add_argument("--goals", type=Path, help="append issue #8's embedding and indexing goals to this JSON-lines file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # ONNX Runtime sessions take torch's thread count
    catalogue = load_catalogue(BUNDLED_CATALOGUE)
    print(f"Load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"{torch.get_num_threads()} threads per model\n")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="shoplens-bench-") as scratch:
        embedders = start_up(args.runtimes, Path(scratch))
        query_latency(embedders, catalogue, args.queries, args.goals)
        indexing(embedders, catalogue, Path(scratch), args.rounds, args.goals)
    print(f"Load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
