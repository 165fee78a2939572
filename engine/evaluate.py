"""Search quality on the labelled query set: ``python -m engine.evaluate``.

Runs every query of ``assets/eval/queries.jsonl`` in three modes (lexical only, vector only,
hybrid) with the configured models and prints, per query kind, Recall@1, Recall@10, nDCG@10 and
MRR; then the word error rate of the spoken queries (espeak-ng voices, Whisper transcripts) and how
often price phrases were read as the intended filter. Recall@k counts relevant products in the top
k divided by min(k, number relevant), so 1.0 means "as good as possible at this depth".

With random CLIP weights (tests, CI) the vector numbers mean nothing; lexical, hybrid plumbing,
filter parsing and WER are real. With real weights the same command gives real vector numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ShopLensError
from engine.service import ShopLens
from engine.settings import PROJECT_ROOT, Settings
from engine.types import Query

QUERIES = PROJECT_ROOT / "assets" / "eval" / "queries.jsonl"
MODES = ("lexical", "vector", "hybrid")
VOICES = {"spoken-en": "en-us", "spoken-zh": "cmn-latn-pinyin"}
LANGUAGES = {"spoken-en": "en", "spoken-zh": "zh"}  # as a shopper would pick in the UI's "Spoken language"


def recall_at(ranked: list[str], relevant: set[str], k: int) -> float:
    return len(set(ranked[:k]) & relevant) / min(k, len(relevant)) if relevant else 0.0


def ndcg_at(ranked: list[str], relevant: set[str], k: int) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, pid in enumerate(ranked[:k]) if pid in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


def reciprocal_rank(ranked: list[str], relevant: set[str]) -> float:
    return next((1 / (i + 1) for i, pid in enumerate(ranked) if pid in relevant), 0.0)


def word_error_rate(reference: str, hypothesis: str, language: str) -> float:
    """WER for English; character error rate for Chinese (no spaces between words)."""
    import jiwer

    if language == "zh":
        strip = str.maketrans("", "", " ，。,.!?！？")
        return jiwer.cer(reference.translate(strip), hypothesis.translate(strip) or " ")
    normalise = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                               jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])  # fmt: skip
    return jiwer.wer(reference, hypothesis or " ", reference_transform=normalise, hypothesis_transform=normalise)


@dataclass
class Scores:
    recall1: float
    recall10: float
    ndcg10: float
    mrr: float


def score(ranked: list[str], relevant: set[str]) -> Scores:
    return Scores(recall_at(ranked, relevant, 1), recall_at(ranked, relevant, 10), ndcg_at(ranked, relevant, 10),
                  reciprocal_rank(ranked, relevant))  # fmt: skip


def speak(text: str, voice: str, folder: Path) -> Path:
    path = folder / f"{abs(hash((text, voice)))}.wav"
    if not path.exists():
        subprocess.run(["espeak-ng", "-v", voice, "-s", "130", "-w", str(path), text], check=True)
    return path


def evaluate(shop: ShopLens, queries: list[dict], voices_dir: Path) -> tuple[dict, dict, dict]:
    """(metrics[kind][mode] -> list of Scores, wer[language] -> list, price parse hits -> list)."""
    catalogue_root = shop.settings.catalog.parent
    metrics: dict[str, dict[str, list[Scores]]] = defaultdict(lambda: defaultdict(list))
    errors: dict[str, list[float]] = defaultdict(list)
    prices: list[bool] = []
    voices_dir.mkdir(parents=True, exist_ok=True)
    multilingual = shop.speech.model.is_multilingual
    for query in queries:
        kind, relevant = query["kind"], set(query["relevant"])
        if kind == "spoken-zh" and not multilingual:
            continue
        text = query["text"]
        if kind in VOICES:  # transcribe once, then search the transcript in every mode
            try:
                clip = speak(query["text"], VOICES[kind], voices_dir)
                transcript = shop.speech.transcribe(clip, language=LANGUAGES[kind] if multilingual else None)
                text = transcript.text
            except ShopLensError:
                text = ""
            errors["zh" if kind == "spoken-zh" else "en"].append(
                word_error_rate(query["text"], text, "zh" if kind == "spoken-zh" else "en"))
        image = catalogue_root / query["image"] if query.get("image") else None
        for mode in MODES:
            if not text and image is None:
                metrics[kind][mode].append(Scores(0, 0, 0, 0))
                continue
            try:
                result = shop.search(Query(text=text, image=image, mode=mode, k=10))
            except ShopLensError:
                metrics[kind][mode].append(Scores(0, 0, 0, 0))
                continue
            metrics[kind][mode].append(score([hit.product.id for hit in result.hits], relevant))
            if mode == "hybrid" and "price_max" in query:
                prices.append(result.filters.price_max == query["price_max"])
    return metrics, errors, {"price phrases": prices}


def report(metrics: dict, errors: dict, parsing: dict, settings: Settings) -> str:
    lines = [f"Search quality: CLIP {settings.clip_model} ({settings.clip_pretrained or 'random'}), "
             f"Whisper {Path(settings.whisper_model).name}", "",
             "| kind | n | mode | Recall@1 | Recall@10 | nDCG@10 | MRR |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for kind in sorted(metrics):
        for mode in MODES:
            rows = metrics[kind][mode]
            mean = {f: sum(getattr(r, f) for r in rows) / len(rows) for f in ("recall1", "recall10", "ndcg10", "mrr")}
            lines.append(f"| {kind} | {len(rows)} | {mode} | {mean['recall1']:.3f} | {mean['recall10']:.3f} | "
                         f"{mean['ndcg10']:.3f} | {mean['mrr']:.3f} |")  # fmt: skip
    lines += ["", "| spoken queries | n | error rate |", "|---|---|---|"]
    for language, values in sorted(errors.items()):
        label = "English WER" if language == "en" else "Chinese CER"
        lines.append(f"| {label} | {len(values)} | {sum(values) / len(values):.3f} |")
    for name, hits in parsing.items():
        if hits:
            lines.append(f"\n{name} read as the intended price filter: {sum(hits)}/{len(hits)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=Path, default=QUERIES)
    parser.add_argument("--kinds", nargs="*", help="only these query kinds")
    args = parser.parse_args(argv)
    settings = Settings()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    queries = [json.loads(line) for line in args.queries.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.kinds:
        queries = [q for q in queries if q["kind"] in args.kinds]
    shop = ShopLens(settings)
    try:
        shop.start(speech=any(q["kind"] in VOICES for q in queries))
        metrics, errors, parsing = evaluate(shop, queries, settings.data_dir / "eval-voices")
    except ShopLensError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report(metrics, errors, parsing, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
