"""Search quality on the labelled query sets: ``python -m engine.evaluate [--set natural|generated|all]``.

Two sets, each run in three modes (lexical only, vector only, hybrid) with the configured models:

- ``assets/eval/natural.jsonl``: queries written by hand as shoppers type them (synonyms, typos,
  intents, everyday Chinese, mixed constraints), labelled by product ids or a rule (see
  :func:`matches_rule` and ``assets/eval/README.md``), split into a development half (for tuning)
  and a held-out test half (for reporting). Printed per kind and half, plus an "all" row per half.
- ``assets/eval/queries.jsonl``: the generated set (``assets/build_eval.py``), whose relevance
  follows from catalogue attributes, so the lexical stage scores about 1.0 on it by construction.
  It is kept as a regression check and labelled "generated (regression)".

Printed per row: Recall@1, Recall@10, nDCG@10 and MRR; then the word error rate of the spoken
queries (espeak-ng voices, Whisper transcripts) and how often price phrases were read as the
intended filter. Recall@k counts relevant products in the top k divided by min(k, number
relevant), so 1.0 means "as good as possible at this depth".

With random CLIP weights (tests, CI) the vector numbers mean nothing; lexical, hybrid plumbing,
filter parsing and WER are real. With real weights the same command gives real vector numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ShopLensError
from engine.settings import PROJECT_ROOT, Settings
from engine.types import Query

if TYPE_CHECKING:
    from engine.catalogue.products import Product
    from engine.service import ShopLens

QUERIES = PROJECT_ROOT / "assets" / "eval" / "queries.jsonl"
NATURAL = PROJECT_ROOT / "assets" / "eval" / "natural.jsonl"
MODES = ("lexical", "vector", "hybrid")
VOICES = {"spoken-en": "en-us", "spoken-zh": "cmn-latn-pinyin"}
LANGUAGES = {"spoken-en": "en", "spoken-zh": "zh"}  # as a shopper would pick in the UI's "Spoken language"

GENERATED = "generated (regression)"
HALVES = {"dev": "natural dev", "test": "natural test (held-out)"}
SPLIT_SEED = "shoplens-natural-2026"
RULE_KEYS = frozenset({"items", "category", "colour", "any_tag", "all_tags", "price_min", "price_max", "rating_min"})


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


# --- the natural set: rules, loading, split ---------------------------------------------------
def item_key(product: Product) -> str:
    """The item a product is a colourway of, from the bundled catalogue's ``category-item-colour`` ids.

    "shoes-running-shoe-red" -> "running-shoe". Ids that do not follow the convention are their own item.
    """
    prefix, suffix = f"{product.category}-", f"-{product.colour}" if product.colour else ""
    pid = product.id
    if pid.startswith(prefix) and suffix and pid.endswith(suffix) and len(pid) > len(prefix) + len(suffix):
        return pid[len(prefix) : -len(suffix)]
    return pid


def _one_of(value: Any) -> set[str]:
    return {value} if isinstance(value, str) else set(value)


def matches_rule(rule: dict[str, Any], product: Product) -> bool:
    """Whether a product satisfies a relevance rule: every key present must hold (AND).

    ``items``: item keys (:func:`item_key`), any of; ``category``, ``colour``: a value or a list, any
    of; ``any_tag``: at least one of these tags; ``all_tags``: every one of them; ``price_min``,
    ``price_max``, ``rating_min``: inclusive bounds.
    """
    tags = set(product.tags)
    checks = {
        "items": lambda v: item_key(product) in _one_of(v),
        "category": lambda v: product.category in _one_of(v),
        "colour": lambda v: product.colour in _one_of(v),
        "any_tag": lambda v: bool(tags & _one_of(v)),
        "all_tags": lambda v: _one_of(v) <= tags,
        "price_min": lambda v: product.price >= v,
        "price_max": lambda v: product.price <= v,
        "rating_min": lambda v: (product.rating or 0) >= v,
    }
    return all(checks[key](value) for key, value in rule.items())


def relevant_ids(query: dict[str, Any], products: Iterable[Product]) -> list[str]:
    """The products relevant to a natural query: its listed ids, or those its rule matches."""
    if "relevant" in query:
        return sorted(query["relevant"])
    rule = query["rule"]
    unknown = set(rule) - RULE_KEYS
    if unknown:
        raise ValueError(f"query {query['id']}: unknown rule keys {sorted(unknown)}")
    return sorted(product.id for product in products if matches_rule(rule, product))


def load_natural(path: Path, products: list[Product]) -> list[dict[str, Any]]:
    """Natural queries with ``relevant`` resolved against ``products``; queries resolving to none are dropped."""
    queries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    resolved = [{**query, "relevant": relevant_ids(query, products)} for query in queries]
    dropped = [query["id"] for query in resolved if not query["relevant"]]
    if dropped:
        logging.getLogger(__name__).warning("%d natural queries match no product in this catalogue: %s",
                                            len(dropped), ", ".join(dropped[:10]))  # fmt: skip
    return [query for query in resolved if query["relevant"]]


def assign_splits(queries: list[dict[str, Any]], seed: str = SPLIT_SEED) -> dict[str, str]:
    """Query id -> "dev" or "test": a seeded shuffle within each (kind, language), half and half.

    Odd groups give the extra query to the held-out half. Only ids, kinds and languages are read,
    so editing a query's text or label never moves it between halves.
    """
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for query in queries:
        groups[(query["kind"], query["lang"])].append(query["id"])
    splits = {}
    for (kind, lang), ids in sorted(groups.items()):
        ids = sorted(ids)
        random.Random(f"{seed}:{kind}:{lang}").shuffle(ids)
        half = len(ids) // 2
        splits.update({qid: "dev" if i < half else "test" for i, qid in enumerate(ids)})
    return splits


# --- running -----------------------------------------------------------------------------------
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
    spoken = any(query["kind"] in VOICES for query in queries)
    if spoken:
        voices_dir.mkdir(parents=True, exist_ok=True)
    multilingual = shop.speech.model.is_multilingual if spoken else False
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


# --- reporting ---------------------------------------------------------------------------------
def _row(label: str, kind: str, mode: str, rows: list[Scores]) -> str:
    mean = {f: sum(getattr(r, f) for r in rows) / len(rows) for f in ("recall1", "recall10", "ndcg10", "mrr")}
    return (f"| {label} | {kind} | {len(rows)} | {mode} | {mean['recall1']:.3f} | {mean['recall10']:.3f} | "
            f"{mean['ndcg10']:.3f} | {mean['mrr']:.3f} |")  # fmt: skip


def _section(label: str, metrics: dict, with_all: bool) -> list[str]:
    lines = [_row(label, kind, mode, metrics[kind][mode]) for kind in sorted(metrics) for mode in MODES]
    if with_all and metrics:
        lines += [_row(label, "all", mode, [s for kind in metrics for s in metrics[kind][mode]]) for mode in MODES]
    return lines


def report(metrics: dict, errors: dict, parsing: dict, settings: Settings,
           natural: dict[str, dict] | None = None) -> str:  # fmt: skip
    """The results table: the generated set's rows (``metrics``), then each natural half's rows and "all"."""
    lines = [f"Search quality: CLIP {settings.clip_model} ({settings.clip_pretrained or 'random'}), "
             f"Whisper {Path(settings.whisper_model).name}", "",
             "| set | kind | n | mode | Recall@1 | Recall@10 | nDCG@10 | MRR |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    lines += _section(GENERATED, metrics, with_all=False)
    for label, half in (natural or {}).items():
        lines += _section(label, half, with_all=True)
    if errors:
        lines += ["", "| spoken queries | n | error rate |", "|---|---|---|"]
    for language, values in sorted(errors.items()):
        label = "English WER" if language == "en" else "Chinese CER"
        lines.append(f"| {label} | {len(values)} | {sum(values) / len(values):.3f} |")
    for name, hits in parsing.items():
        if hits:
            lines.append(f"\n{name} read as the intended price filter: {sum(hits)}/{len(hits)}")
    return "\n".join(lines)


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["reviews"]:  # python -m engine.evaluate reviews: the review analyser, not search
        from engine.reviews.evaluation import main as evaluate_reviews

        return evaluate_reviews(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m engine.evaluate", description=__doc__.split("\n\n")[0],
                                     epilog="python -m engine.evaluate reviews: sentiment and aspects of reviews")  # fmt: skip
    parser.add_argument("--set", dest="which", choices=("natural", "generated", "all"), default="all",
                        help="which query set to run (default: both)")  # fmt: skip
    parser.add_argument("--queries", type=Path, default=QUERIES, help="the generated (regression) set")
    parser.add_argument("--natural", type=Path, default=NATURAL, help="the hand-written natural set")
    parser.add_argument("--kinds", nargs="*", help="only these query kinds")
    args = parser.parse_args(argv)
    settings = Settings()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from engine.catalogue.products import load_catalogue
    from engine.service import ShopLens

    generated = _read_jsonl(args.queries) if args.which in ("generated", "all") else []
    natural = load_natural(args.natural, load_catalogue(settings.catalog).products) if args.which != "generated" else []
    if args.kinds:
        generated = [q for q in generated if q["kind"] in args.kinds]
        natural = [q for q in natural if q["kind"] in args.kinds]
    shop = ShopLens(settings)
    try:
        shop.start(speech=any(q["kind"] in VOICES for q in generated))
        metrics, errors, parsing = evaluate(shop, generated, settings.data_dir / "eval-voices")
        halves = {label: evaluate(shop, [q for q in natural if q["split"] == split], settings.data_dir)[0]
                  for split, label in HALVES.items()}  # fmt: skip
    except ShopLensError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report(metrics, errors, parsing, settings, {label: m for label, m in halves.items() if m}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
