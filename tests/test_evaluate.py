import math

import pytest

from engine.evaluate import (
    evaluate,
    ndcg_at,
    recall_at,
    reciprocal_rank,
    report,
    word_error_rate,
)
from engine.settings import Settings


def test_ranking_metrics_on_a_worked_example():
    ranked, relevant = ["x", "a", "y", "b"], {"a", "b", "c"}
    assert recall_at(ranked, relevant, 1) == 0.0
    assert recall_at(ranked, relevant, 4) == pytest.approx(2 / 3)
    assert recall_at(["a"], {"a", "b"}, 1) == 1.0  # the best possible at depth 1
    assert reciprocal_rank(ranked, relevant) == 0.5 and reciprocal_rank(["x"], relevant) == 0.0
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(ranked, relevant, 10) == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert ndcg_at(["a", "b", "c"], relevant, 10) == pytest.approx(1.0)


def test_word_and_character_error_rates():
    assert word_error_rate("A brown teddy bear.", "a brown teddy bear", "en") == 0.0
    assert word_error_rate("show me a blue backpack", "show me blue back pack", "en") == pytest.approx(3 / 5)
    assert word_error_rate("我想买跑步鞋", "我想买淘宝鞋", "zh") == pytest.approx(2 / 6)
    assert word_error_rate("我想买", "", "zh") == 1.0


def test_evaluation_runs_end_to_end_on_a_small_query_set(make_settings, catalogue_path, shared_speech, tmp_path):
    from engine.service import ShopLens

    shop = ShopLens(make_settings(catalog=catalogue_path))
    shop.speech = shared_speech
    shop.start(speech=False)
    queries = [
        {"kind": "typed-en", "text": "black shoe 3", "relevant": ["p003"]},
        {"kind": "price-en", "text": "toys under $30", "relevant": ["p002"], "price_max": 30},
        {"kind": "spoken-en", "text": "a brown teddy bear", "relevant": ["p001"]},
        {"kind": "spoken-zh", "text": "我想买泰迪熊", "relevant": ["p001"]},  # skipped: tiny.en is English only
        {"kind": "composed", "text": "like this, but in red", "relevant": ["p004"], "image": "images/p000.png"},
    ]
    metrics, errors, parsing = evaluate(shop, queries, tmp_path / "voices")
    assert set(metrics) == {"typed-en", "price-en", "spoken-en", "composed"}
    assert metrics["typed-en"]["lexical"][0].recall1 == 1.0  # "black shoe 3" names p003 exactly
    assert metrics["price-en"]["lexical"][0].recall10 == 1.0 and parsing["price phrases"] == [True]
    assert errors["en"] == [0.0] and "zh" not in errors
    table = report(metrics, errors, parsing, Settings(_env_file=None))
    assert "| typed-en | 1 | hybrid |" in table and "English WER | 1 | 0.000" in table
