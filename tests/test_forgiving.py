"""Search that forgives, through the engine: typos fixed, synonyms searched, suggestions, no silent zero."""

import json

import pytest

from engine.service import ShopLens
from engine.types import Query, make_filters
from tests.conftest import write_catalogue


@pytest.fixture(scope="module")
def shop(bundled_settings):
    shop = ShopLens(bundled_settings(top_k=5))
    shop.start(speech=False)
    return shop


def ids(hits) -> list[str]:
    return [hit.product.id for hit in hits]


def test_a_typo_is_fixed_shown_as_a_chip_and_can_be_undone(shop):
    page = shop.search_page(Query(text="keybaord", mode="lexical"))
    assert [chip.key for chip in page.chips] == ["spelling"] and page.chips[0].label == "keybaord → keyboard"
    assert page.hits and all("keyboard" in h.product.title.lower() for h in page.hits)
    assert page.summary.endswith("“keyboard”") and "keybaord" in page.notices[0]
    as_typed = shop.search_page(Query(text="keybaord", mode="lexical", dropped=("spelling",)))
    assert as_typed.chips == [] and as_typed.hits == []  # nothing is spelled that way


def test_a_corrected_word_counts_less_than_a_typed_one(shop):
    exact = shop.search(Query(text="keyboard", mode="lexical", k=5))
    fixed = shop.search(Query(text="keybaord", mode="lexical", k=5))
    assert ids(exact.hits) == ids(fixed.hits)
    words = shop.engine.lexical.score_array("keyboard")
    weighted = shop.engine.lexical.score_array("keyboard", {"keyboard": fixed.corrections[0].weight})
    assert fixed.corrections[0].weight < 1 and (weighted <= words).all() and (weighted < words).any()


def test_words_the_catalogue_knows_are_never_corrected(shop):
    for words in ("shoe", "violins", "teddy bear", "跑步鞋", "4k tv"):
        assert shop.search(Query(text=words, k=3)).corrections == [], words


def test_synonyms_are_searched_explained_and_can_be_switched_off(shop):
    page = shop.search_page(Query(text="tee", mode="lexical"))
    assert [chip.key for chip in page.chips] == ["synonyms"] and "t-shirt" in page.chips[0].label
    assert page.hits and all("T-Shirt" in h.product.title for h in page.hits)
    assert all(any(line.startswith("tee → t-shirt (synonyms.txt line") for line in h.synonyms) for h in page.hits)
    off = shop.search_page(Query(text="tee", mode="lexical", dropped=("synonyms",)))
    assert not any("T-Shirt" in h.product.title for h in off.hits)
    chinese = shop.search_page(Query(text="单肩包", mode="lexical"), lang="zh")
    assert chinese.hits and {h.product.category for h in chinese.hits} == {"bags"}


def test_a_shop_owner_edits_synonyms_without_touching_code(make_settings, tmp_path):
    catalogue = write_catalogue(tmp_path / "shop", count=12)
    (catalogue.parent / "synonyms.txt").write_text("# ours\nbeastie, critter => toy\nthis line is not a rule => \n", "utf-8")
    shop = ShopLens(make_settings(catalog=catalogue))
    shop.start(speech=False)
    found = shop.search(Query(text="critter", mode="lexical", k=20))
    assert found.hits and all(h.product.category == "toys" for h in found.hits)
    assert [e.added for e in found.expansions] == [("toy",)]
    assert shop.engine.snapshot.synonyms.problems and "line 3" in shop.engine.snapshot.synonyms.problems[0]


def test_zero_results_are_never_silent(shop):
    nothing = shop.search_page(Query(text="xqzzy blorp", mode="lexical"))
    assert nothing.hits == [] and nothing.relaxations[0].key == "mode:hybrid"
    assert nothing.nearest and "search by meaning" in nothing.notices[-1]
    filtered = shop.search_page(Query(text="violin", filters=make_filters(price_min=5000)))
    assert filtered.hits == [] and filtered.relaxations and filtered.notices


def test_suggestions_complete_titles_categories_in_both_languages(shop):
    assert "teapot" in shop.suggest("teap") and "teddy bear" in shop.suggest("tedd")
    assert any("跑步鞋" in s for s in shop.suggest("跑"))
    assert len(shop.suggest("r", k=3)) == 3 and shop.suggest("") == [] and shop.suggest("zzzz") == []
    assert shop.suggest("x" * 10_000) == []  # a long paste costs nothing


def test_evaluation_set_is_split_and_labelled():
    rows = [json.loads(line) for line in open("assets/eval/natural.jsonl", encoding="utf-8")]
    assert len(rows) >= 200 and {row["split"] for row in rows} == {"dev", "test"}


def test_popular_searches_lift_suggestions_but_never_reveal_free_text(bundled_settings):
    shop = ShopLens(bundled_settings(privacy_min_count=2, privacy_epsilon=10, privacy_release_hours=0))
    shop.start(speech=False)
    before = shop.suggest("t", k=3)
    for shopper in ("a", "b", "c", "d"):
        shop.search_page(Query(text="tennis racket"), shopper=shopper)
        shop.search_page(Query(text="tom's home address 12 elm street"), shopper=shopper)
    after = shop.suggest("t", k=3)
    assert after[0] == "tennis racket" and before[0] != "tennis racket"
    assert not any("address" in s for s in shop.suggest("tom", k=10))  # free text never comes out
