"""The hand-written evaluation set: every query answerable, both halves for every kind, the split as recorded."""

import json
import re
from collections import Counter

import pytest

from engine.catalogue.products import Product, load_catalogue
from engine.evaluate import (
    HALVES,
    NATURAL,
    RULE_KEYS,
    Scores,
    assign_splits,
    item_key,
    load_natural,
    matches_rule,
    relevant_ids,
    report,
)
from engine.settings import BUNDLED_CATALOGUE, PROJECT_ROOT, Settings

KINDS = {"synonym", "typo", "intent", "everyday-zh", "mixed"}
CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.fixture(scope="module")
def products():
    return load_catalogue(BUNDLED_CATALOGUE).products


@pytest.fixture(scope="module")
def raw():
    return [json.loads(line) for line in NATURAL.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_query_resolves_to_products_of_the_catalogue(raw, products):
    known = {p.id for p in products}
    for query in raw:
        assert ("relevant" in query) != ("rule" in query), query["id"]
        assert set(query.get("rule", {})) <= RULE_KEYS, query["id"]
        relevant = relevant_ids(query, products)
        assert relevant and set(relevant) <= known, f"{query['id']} {query['text']!r} matches no product"
    assert len(load_natural(NATURAL, products)) == len(raw)


def test_the_set_is_large_varied_and_without_duplicates(raw):
    assert len(raw) >= 240
    assert len({q["id"] for q in raw}) == len(raw)
    texts = Counter(" ".join(q["text"].lower().split()) for q in raw)
    assert [text for text, n in texts.items() if n > 1] == []
    assert {q["kind"] for q in raw} == KINDS
    languages = Counter(q["lang"] for q in raw)
    assert set(languages) == {"en", "zh"} and 0.5 <= languages["en"] / len(raw) <= 0.7
    for query in raw:
        assert bool(CJK.search(query["text"])) == (query["lang"] == "zh"), query["id"]


def test_both_halves_hold_every_kind_and_the_split_is_the_recorded_one(raw):
    halves = Counter((q["kind"], q["split"]) for q in raw)
    for kind in KINDS:
        dev, test = halves[(kind, "dev")], halves[(kind, "test")]
        assert dev and test and abs(dev - test) <= 2, kind
    assert {q["split"] for q in raw} == set(HALVES)
    assert {q["id"]: q["split"] for q in raw} == assign_splits(raw)  # python assets/eval/split_natural.py


def test_the_split_does_not_depend_on_text_or_order(raw):
    edited = [{**q, "text": q["text"] + "!"} for q in reversed(raw)]
    assert assign_splits(edited) == assign_splits(raw)


def test_rules_match_as_documented():
    image = PROJECT_ROOT / "app.py"
    shoe = Product(id="shoes-running-shoe-red", title="Red Running Shoe", category="shoes", price=45.0, rating=4.6,
                   colour="red", tags=["running", "leather"], image=image)  # fmt: skip
    assert item_key(shoe) == "running-shoe"
    assert matches_rule({"items": ["running-shoe", "trainers"], "colour": ["red", "white"], "price_max": 50}, shoe)
    assert matches_rule({"category": "shoes", "any_tag": ["suede", "leather"], "rating_min": 4.5}, shoe)
    assert not matches_rule({"items": ["running-shoe"], "price_min": 50}, shoe)
    assert not matches_rule({"all_tags": ["running", "suede"]}, shoe)
    with pytest.raises(ValueError, match="unknown rule keys"):
        relevant_ids({"id": "x", "rule": {"colours": "red"}}, [shoe])


def test_report_prints_each_half_with_an_all_row():
    one = {"typo": {mode: [Scores(1, 1, 1, 1)] for mode in ("lexical", "vector", "hybrid")},
           "synonym": {mode: [Scores(0, 0, 0, 0)] for mode in ("lexical", "vector", "hybrid")}}  # fmt: skip
    table = report({}, {}, {}, Settings(_env_file=None), {HALVES["dev"]: one, HALVES["test"]: one})
    assert "| natural dev | typo | 1 | hybrid | 1.000 |" in table
    assert "| natural test (held-out) | all | 2 | lexical | 0.500 | 0.500 | 0.500 | 0.500 |" in table
    assert "spoken queries" not in table
