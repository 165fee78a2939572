"""Record the dev/test split in ``assets/eval/natural.jsonl``: ``python assets/eval/split_natural.py [--check]``.

The queries themselves are written by hand; this only assigns each one to the development half or
the held-out test half with :func:`engine.evaluate.assign_splits` (a seeded shuffle within each
kind and language, half and half) and writes the result into the file's ``split`` field.
``--check`` changes nothing and exits 1 if a recorded split differs from the seeded one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from engine.evaluate import NATURAL, assign_splits  # noqa: E402

FIELDS = ("id", "kind", "lang", "split", "text", "relevant", "rule")


def main(argv: list[str]) -> int:
    queries = [json.loads(line) for line in NATURAL.read_text(encoding="utf-8").splitlines() if line.strip()]
    splits = assign_splits(queries)
    moved = [q["id"] for q in queries if q.get("split") != splits[q["id"]]]
    if "--check" in argv:
        print(f"{len(moved)} queries differ from the seeded split{': ' + ', '.join(moved) if moved else ''}")
        return 1 if moved else 0
    lines = []
    for query in queries:
        query["split"] = splits[query["id"]]
        lines.append(json.dumps({key: query[key] for key in FIELDS if key in query}, ensure_ascii=False))
    NATURAL.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(queries)} queries, {sum(s == 'dev' for s in splits.values())} dev, "
          f"{sum(s == 'test' for s in splits.values())} test; {len(moved)} assigned or moved")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
