"""Review analysis against hand-labelled reviews: ``python -m engine.reviews.evaluation``.

(Also ``python -m engine.evaluate reviews``.) Reads ``assets/eval/reviews_labelled.jsonl`` (how it
was made: ``assets/eval/README-reviews.md``) and prints, per language, for all reviews and for the
hand-written ones alone: sentiment accuracy (positive / neutral / negative), and precision and recall
of the aspects each review has an opinion on, first as aspects alone, then as (aspect, polarity)
pairs. Two analysers are compared:

- *analyser*: :class:`engine.reviews.analysis.Analyser` (VADER or SnowNLP with the aspect lexicon,
  clauses and negation);
- *word lists alone*: the baseline, generic polarity word lists (``polarity.json``) and the same
  aspect lexicon, with no sentiment library and no negation: a review or a clause is positive when
  it holds more positive words than negative ones, and a lexicon term keeps its listed polarity.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.reviews.analysis import Analyser, Analysis, Language, Lexicon, Opinion, clauses, label_of
from engine.settings import PROJECT_ROOT

LABELLED = PROJECT_ROOT / "assets" / "eval" / "reviews_labelled.jsonl"
WORD_LISTS = Path(__file__).with_name("polarity.json")
POLARITY = {"positive": 1, "negative": -1}


class WordListBaseline:
    """Sentiment and aspects from word lists alone (see the module docstring)."""

    def __init__(self, lexicon: Lexicon, words: dict) -> None:
        self.lexicon, self.words = lexicon, words

    @classmethod
    def load(cls, lexicon: Lexicon, path: Path = WORD_LISTS) -> WordListBaseline:
        return cls(lexicon, json.loads(path.read_text(encoding="utf-8")))

    def polarity(self, text: str, language: Language) -> int:
        """Positive words minus negative words."""
        lists = self.words[language]
        if language == "zh":
            return sum(text.count(w) for w in lists["positive"]) - sum(text.count(w) for w in lists["negative"])
        tokens = re.findall(r"[\w']+", text.lower())
        return sum(t in lists["positive"] for t in tokens) - sum(t in lists["negative"] for t in tokens)

    def analyse(self, text: str, language: Language) -> Analysis:
        opinions = []
        for clause in clauses(text, language):
            for term, phrase, _ in self.lexicon.find(clause, language):
                polarity = term.polarity or _sign(self.polarity(clause, language))
                opinions.append(Opinion(term.aspect, polarity, phrase, term.issue))
        votes = self.polarity(text, language) + sum(o.polarity for o in opinions)
        weight = sum(abs(o.polarity) for o in opinions) + _word_count(self, text, language)
        score = votes / max(weight, 1)
        return Analysis(language, score, label_of(score), tuple(opinions))


def _word_count(baseline: WordListBaseline, text: str, language: Language) -> int:
    lists = baseline.words[language]
    if language == "zh":
        return sum(text.count(w) for w in lists["positive"] + lists["negative"])
    return sum(t in lists["positive"] or t in lists["negative"] for t in re.findall(r"[\w']+", text.lower()))


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


@dataclass
class Scores:
    n: int = 0
    correct: int = 0
    found: int = 0  # aspects the analyser reported
    labelled: int = 0  # aspects in the labels
    hits: int = 0  # reported and labelled
    found_polar: int = 0
    labelled_polar: int = 0
    hits_polar: int = 0

    def add(self, row: dict, analysis: Analysis) -> None:
        self.n += 1
        self.correct += analysis.label == row["sentiment"]
        got = analysis.aspects
        gold = {aspect: POLARITY[polarity] for aspect, polarity in row["aspects"].items()}
        self.found += len(got)
        self.labelled += len(gold)
        self.hits += len(got.keys() & gold.keys())
        self.hits_polar += sum(got[a] == gold[a] for a in got.keys() & gold.keys())

    def row(self) -> list[str]:
        accuracy = self.correct / max(self.n, 1)
        precision, recall = self.hits / max(self.found, 1), self.hits / max(self.labelled, 1)
        polar_p, polar_r = self.hits_polar / max(self.found, 1), self.hits_polar / max(self.labelled, 1)
        return [str(self.n), *(f"{v:.3f}" for v in (accuracy, precision, recall, polar_p, polar_r))]


def evaluate(rows: Iterable[dict], methods: dict[str, Callable[[str, Language], Analysis]]) -> dict[tuple[str, str, str], Scores]:
    """Scores per (language, subset, method); subsets are "all" and "hand-written"."""
    results: dict[tuple[str, str, str], Scores] = {}
    for row in rows:
        subsets = ["all"] + (["hand-written"] if row["source"] == "handwritten" else [])
        for method, analyse in methods.items():
            analysis = analyse(row["text"], row["language"])
            for subset in subsets:
                results.setdefault((row["language"], subset, method), Scores()).add(row, analysis)
    return results


def report(results: dict[tuple[str, str, str], Scores]) -> str:
    lines = [
        "| language | reviews | method | n | sentiment accuracy | aspect P | aspect R | aspect+polarity P | aspect+polarity R |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (language, subset, method), scores in sorted(results.items(), key=lambda kv: (kv[0][0], kv[0][1] != "all")):
        lines.append(f"| {language} | {subset} | {method} | " + " | ".join(scores.row()) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.reviews.evaluation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--labelled", type=Path, default=LABELLED, help="hand-labelled reviews (JSONL)")
    args = parser.parse_args(argv)
    if not args.labelled.is_file():
        print(f"error: no labelled reviews at {args.labelled}", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in args.labelled.read_text(encoding="utf-8").splitlines() if line.strip()]
    analyser = Analyser()
    baseline = WordListBaseline.load(analyser.lexicon)
    results = evaluate(rows, {"analyser": analyser.analyse, "word lists alone": baseline.analyse})
    print(f"Review analysis on {len(rows)} hand-labelled reviews ({args.labelled.name})\n")
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
