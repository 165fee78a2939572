"""Catalogue synonyms in the Solr/Elasticsearch format: parsing, bad lines, expansion with provenance."""

import pytest

from engine.catalogue.products import load_catalogue
from engine.errors import ShopLensError
from engine.search.synonyms import FILE_NAME, SynonymError, SynonymSet, catalogue_phrases
from engine.settings import BUNDLED_CATALOGUE

RULES = """\
# a comment line
tee, t-shirt, tshirt      # equivalent, with a comment after it
jeans, denims => trousers
hedge clippers, shears
单肩包, 斜挎包 => 托特包, 手提包
橡皮 => 橡皮擦
"""


def test_equivalent_words_expand_to_each_other_with_provenance():
    synonyms = SynonymSet.parse(RULES)
    assert synonyms.problems == [] and len(synonyms) == 5
    expanded = synonyms.expand("Red TEE")
    assert expanded.terms == ["t-shirt", "tshirt"]
    [why] = expanded.expansions
    assert (why.matched, why.rule.line, why.rule.explicit) == ("TEE", 2, False)
    assert why.explain() == "TEE → t-shirt, tshirt (synonyms.txt line 2)"
    assert synonyms.expand("t-shirt").terms == ["tee", "tshirt"]
    assert synonyms.expand("t shirt").terms == ["tee", "tshirt"]  # a hyphen is a space


def test_explicit_rules_go_one_way_and_keep_the_typed_words():
    synonyms = SynonymSet.parse(RULES)
    assert synonyms.expand("blue jeans").terms == ["trousers"]
    assert synonyms.expand("denim").terms == ["trousers"]  # "denims" in another inflection
    assert synonyms.expand("trousers").terms == []


def test_phrases_whole_words_and_no_chaining():
    synonyms = SynonymSet.parse(RULES + "trousers, slacks\n")
    assert synonyms.expand("hedge clippers").terms == ["shears"]
    assert synonyms.expand("clippers").terms == [] and synonyms.expand("teeth").terms == []
    assert synonyms.expand("jeans").terms == ["trousers"]  # not on to "slacks"
    assert synonyms.expand("tee t-shirt").terms == ["tshirt"]  # words already typed are not added


def test_chinese_words_match_inside_a_sentence():
    synonyms = SynonymSet.parse(RULES)
    expanded = synonyms.expand("我想买一个单肩包")
    assert expanded.terms == ["托特包", "手提包"] and expanded.expansions[0].matched == "单肩包"
    assert synonyms.expand("托特包").terms == []


def test_item_names_of_the_catalogue_are_not_broken_up():
    synonyms = SynonymSet.parse(RULES + "sweets => candy\n", protected=["橡皮鸭", "sweet corn"])
    assert synonyms.expand("橡皮").terms == ["橡皮擦"]
    assert synonyms.expand("粉色橡皮鸭").terms == []  # 橡皮 inside 橡皮鸭: a rubber duck, not an eraser
    assert synonyms.expand("sweet").terms == ["candy"] and synonyms.expand("sweet corn").terms == []


@pytest.mark.parametrize("line, reason", [
    ("jeans", "at least two words"),
    ("=> trousers", "both sides"),
    ("jeans =>", "both sides"),
    ("a => b => c", "more than one '=>'"),
    ("jeans, !!!", "has no letters"),
    ("jeans = > trousers", "broken '=>'"),
])  # fmt: skip
def test_a_bad_line_is_reported_by_number_and_skipped(line, reason):
    synonyms = SynonymSet.parse(f"tee, t-shirt\n\n# fine so far\n{line}\nsofa, couch\n")
    [problem] = synonyms.problems
    assert problem.startswith(f"{FILE_NAME} line 4: ") and reason in problem
    assert len(synonyms) == 2 and synonyms.expand("couch").terms == ["sofa"]


def test_files_that_cannot_be_used_raise_a_readable_error(tmp_path):
    bad = tmp_path / "synonyms.txt"
    bad.write_text("tee, t-shirt\nsofa\nx =>\n", encoding="utf-8")
    assert len(SynonymSet.load(bad).problems) == 2
    with pytest.raises(SynonymError, match=r"line 2: .*; synonyms.txt line 3: ") as raised:
        SynonymSet.load(bad, strict=True)
    assert isinstance(raised.value, ShopLensError)
    (tmp_path / "latin1.txt").write_bytes("café, coffee\n".encode("latin-1"))
    with pytest.raises(SynonymError, match="not UTF-8"):
        SynonymSet.load(tmp_path / "latin1.txt")
    with pytest.raises(SynonymError, match="not found"):
        SynonymSet.load(tmp_path / "missing.txt")
    assert len(SynonymSet.for_catalogue(tmp_path / "elsewhere" / "products.jsonl")) == 0  # no file: no rules


def test_the_bundled_list_loads_and_speaks_both_languages():
    products = load_catalogue(BUNDLED_CATALOGUE).products
    synonyms = SynonymSet.for_catalogue(BUNDLED_CATALOGUE, products)
    assert synonyms.problems == [] and len(synonyms) >= 100
    tee = synonyms.expand("tee")
    assert "t-shirt" in tee.terms and tee.explain()[0].startswith("tee → t-shirt (synonyms.txt line ")
    assert "T恤" in synonyms.expand("短袖").terms and synonyms.expand("T恤衫").terms == []  # T恤 is already typed
    assert "托特包" in synonyms.expand("单肩包").terms
    assert "boombox speaker" in synonyms.expand("speakers").terms
    assert "橡皮鸭" in catalogue_phrases(products) and "sweet corn" in {p.lower() for p in catalogue_phrases(products)}
