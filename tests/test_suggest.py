"""Suggestions as you type: titles, categories and popular searches, both languages, best first."""

import time

import pytest

from engine.catalogue.products import load_catalogue
from engine.search.suggest import Suggester
from engine.settings import BUNDLED_CATALOGUE


@pytest.fixture(scope="module")
def suggester():
    return Suggester.from_products(load_catalogue(BUNDLED_CATALOGUE).products,
                                   popular={"red running shoes": 4, "跑步鞋 100元以下": 1})  # fmt: skip


def texts(suggester, prefix, k=8):
    return [s.text for s in suggester.suggest(prefix, k)]


def test_chinese_prefix_finds_the_item_behind_its_colour(suggester):
    found = texts(suggester, "跑")
    assert found[0] == "跑步鞋"  # from eight titles 红色跑步鞋, 蓝色跑步鞋 ...
    assert "跑步鞋 100元以下" in found
    assert all(text.startswith("跑") for text in found)
    assert "红色跑步鞋" in texts(suggester, "红色跑", k=20)


def test_english_prefix_completes_from_any_word_of_a_title(suggester):
    assert texts(suggester, "run")[0] == "running shoe"
    assert texts(suggester, "RUN") == texts(suggester, "run")
    assert "classic t-shirt" in texts(suggester, "classic")
    assert texts(suggester, "t sh")[0] == "t-shirt"  # hyphens and spaces are alike


def test_popular_searches_and_categories_rank_high(suggester):
    first = suggester.suggest("r", k=3)[0]
    assert (first.text, first.source) == ("red running shoes", "popular")
    assert texts(suggester, "shoe", k=3)[0] == "shoe"  # a category word and a title word
    assert "服装" in texts(suggester, "服") and "electronics" in texts(suggester, "elec")


def test_at_most_k_and_nothing_for_nothing(suggester):
    assert len(suggester.suggest("s", k=5)) == 5
    assert suggester.suggest("", k=5) == [] and suggester.suggest("   ") == [] and suggester.suggest("qqq") == []
    assert suggester.suggest("s", k=0) == []


def test_ranking_is_deterministic_and_fast(suggester):
    assert texts(suggester, "c", k=10) == texts(suggester, "c", k=10)
    scores = [s.score for s in suggester.suggest("c", k=10)]
    assert scores == sorted(scores, reverse=True)
    started = time.perf_counter()
    for prefix in ["a", "b", "c", "红", "跑", "sh", "lap"] * 100:
        suggester.suggest(prefix)
    assert (time.perf_counter() - started) / 700 < 0.005  # well under a keystroke


def test_a_suggester_from_plain_phrases():
    suggester = Suggester([("Tote Bag", "title", 1), ("tote bag", "popular", 2), ("toaster", "title", 1)])
    [tote, toaster] = suggester.suggest("to")
    assert (tote.text, tote.source, tote.score) == ("tote bag", "popular", 7.0)  # 1 * 1 + 2 * 3
    assert toaster.text == "toaster" and len(suggester) == 2
