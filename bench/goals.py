"""One row per speed goal of issue #8, written by each bench and gathered by ``bench/speed.py``.

A bench given ``--goals FILE`` appends one JSON line per goal it measured: what was compared
(stock or baseline against ShopLens), the ratio, the target, whether it was met, and the accuracy
measured beside it. ``bench/speed.py`` runs the benches one after another and prints the lines as
one table, so every figure in it comes from the same run on the same machine.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Goal:
    goal: str  # e.g. "voice p50, Whisper base, English"
    baseline: str  # what ShopLens is compared with, and its figure, e.g. "stock transcribe() 1610 ms"
    shoplens: str  # ShopLens's figure, e.g. "702 ms"
    ratio: float | None  # ShopLens / baseline (or as the target states it)
    target: str  # e.g. "≤ 0.5"
    met: bool | None  # None when the row only reports
    accuracy: str = ""  # measured beside the speed, e.g. "WER 0.12 vs stock 0.13"


def record(path: Path | None, goal: Goal) -> None:
    """Append ``goal`` to ``path`` (a bench run without ``--goals`` records nothing)."""
    if path is not None:
        with path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(goal), ensure_ascii=False) + "\n")


def read(path: Path) -> list[Goal]:
    if not path.exists():
        return []
    return [Goal(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def table(goals: list[Goal]) -> str:
    lines = ["| goal | compared with | ShopLens | ratio | target | met | accuracy |", "|---|---|---|---|---|---|---|"]
    for g in goals:
        ratio = f"{g.ratio:.2f}" if g.ratio is not None else ""
        met = {True: "yes", False: "**no**", None: ""}[g.met]
        lines.append(f"| {g.goal} | {g.baseline} | {g.shoplens} | {ratio} | {g.target} | {met} | {g.accuracy} |")
    return "\n".join(lines)
