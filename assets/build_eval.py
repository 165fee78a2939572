"""Build the labelled query set: ``python assets/build_eval.py`` -> ``assets/eval/queries.jsonl``.

Every query's relevant products follow from catalogue attributes (ids are ``category-item-colour``):
an item name is relevant to every colourway of that item; a colour plus an item to that colourway;
a price phrase keeps the colourways within the price; a photo plus "in <colour>" wants the same item
in that colour. Kinds: typed-en, typed-zh, price-en, price-zh, spoken-en, spoken-zh, composed.
Spoken queries are spoken by espeak-ng at evaluation time (``engine.evaluate``). Seeded.
"""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from catalogue_spec import COLOURS, ITEMS  # noqa: E402

CATALOGUE = HERE / "catalogue" / "products.jsonl"
OUT = HERE / "eval" / "queries.jsonl"


def main() -> None:
    products = [json.loads(line) for line in CATALOGUE.read_text(encoding="utf-8").splitlines()]
    by_item: dict[str, list[dict]] = defaultdict(list)
    for product in products:
        category, rest = product["id"].split("-", 1)
        by_item[f"{category}-{rest.rsplit('-', 1)[0]}"].append(product)
    items = {f"{item.category}-{item.key}": item for item in ITEMS}
    rng = random.Random(2026)
    queries: list[dict] = []

    def add(kind: str, text: str, relevant: list[dict], **extra) -> None:
        if relevant:
            queries.append({"id": f"q{len(queries):03d}", "kind": kind, "text": text,
                            "relevant": sorted(p["id"] for p in relevant), **extra})  # fmt: skip

    keys = sorted(by_item)
    for key in keys:  # every item by name, English and Chinese
        item = items[key]
        add("typed-en", item.name.lower(), by_item[key])
        add("typed-zh", item.name_zh, by_item[key])
    tinted = [key for key in keys if items[key].colours]
    for key in rng.sample(tinted, 30):  # a colour and an item
        item, product = items[key], rng.choice(by_item[key])
        add("typed-en", f"{product['colour']} {item.name.lower()}", [product])
        add("typed-zh", f"{COLOURS[product['colour']][0]}的{item.name_zh}", [product])
    for key in rng.sample(keys, 20):  # price phrases
        item = items[key]
        prices = sorted(p["price"] for p in by_item[key])
        limit = int(prices[len(prices) // 2]) + 1
        within = [p for p in by_item[key] if p["price"] <= limit]
        add("price-en", f"{item.name.lower()} under ${limit}", within, price_max=limit)
        add("price-zh", f"{limit}元以下的{item.name_zh}", within, price_max=limit)
    for key in rng.sample(keys, 25):  # spoken
        item = items[key]
        add("spoken-en", f"I am looking for a {item.name.lower()}", by_item[key])
    for key in rng.sample(keys, 12):
        item = items[key]
        add("spoken-zh", f"我想买{item.name_zh}", by_item[key])
    for key in rng.sample(tinted, 20):  # composed: a photo of one colourway, words asking for another
        photo, wanted = rng.sample(by_item[key], 2)
        add("composed", f"like this, but in {wanted['colour']}", [wanted], image=photo["image"])
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries), encoding="utf-8")
    counts = defaultdict(int)
    for query in queries:
        counts[query["kind"]] += 1
    print(f"{len(queries)} queries: {dict(counts)}")


if __name__ == "__main__":
    main()
