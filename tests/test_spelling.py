"""Typo correction against the catalogue's vocabulary: Algolia's edit budget, never a known word."""

import pytest

from engine.catalogue.products import load_catalogue
from engine.search.spelling import SpellingCorrector, keyboard_slip, max_distance
from engine.settings import BUNDLED_CATALOGUE


@pytest.fixture(scope="module")
def bundled():
    return SpellingCorrector.from_products(load_catalogue(BUNDLED_CATALOGUE).products)


@pytest.mark.parametrize("typed, meant", [
    ("keybaord", "keyboard"),  # swapped letters: one edit
    ("sofs", "sofa"),
    ("t-shrit", "t-shirt"),
    ("umberella", "umbrella"),  # a letter too many
    ("saxaphone", "saxophone"),  # a letter heard wrong
    ("Keybaord", "Keyboard"),  # the typed case is kept
])  # fmt: skip
def test_shoppers_typos_become_catalogue_words(bundled, typed, meant):
    spelled = bundled.correct(typed)
    assert spelled.text == meant and spelled.did_you_mean() == meant


@pytest.mark.parametrize("word", ["shoe", "shoes", "violins", "keyboard", "read", "watch", "print", "cap"])
def test_known_and_english_words_are_never_corrected(bundled, word):
    spelled = bundled.correct(word)
    assert spelled.text == word and not spelled.changed and spelled.did_you_mean() is None


def test_the_edit_budget_follows_word_length():
    assert [max_distance(w) for w in ("cpa", "sofs", "jumpr", "backpak", "trouzers", "sweatshirts")] == [0, 1, 1, 1, 2, 2]
    speller = SpellingCorrector(["blanket", "trousers", "cap"])
    assert speller.correct("blankit").text == "blanket"  # 7 letters, one edit
    assert speller.correct("blonkit").text == "blonkit"  # 7 letters, two edits: over budget
    assert speller.correct("trouzerz").text == "trousers"  # 8 letters, two edits
    assert speller.correct("cpa").text == "cpa"  # under 4 letters: never


def test_a_correction_counts_less_than_a_typed_word():
    speller = SpellingCorrector(["trousers"])
    one, two = speller.correct("trouser5").corrections, speller.correct("trowzers").corrections
    assert two[0].distance == 2 and two[0].weight == 0.5
    assert one == []  # a digit: left alone
    assert speller.correct("trowsers").corrections[0].weight == 0.75 < 1.0


def test_digits_chinese_and_spacing_stay_as_typed(bundled):
    spelled = bundled.correct("红色 keybaord, 14-inch  laptop 100元 T恤 跑步鞋")
    assert spelled.text == "红色 keyboard, 14-inch  laptop 100元 T恤 跑步鞋"
    [correction] = spelled.corrections
    assert (correction.original, correction.corrected, correction.distance) == ("keybaord", "keyboard", 1)
    assert spelled.original[correction.start : correction.end] == "keybaord"
    assert bundled.correct("14inch 4k").text == "14inch 4k"


def test_ties_prefer_a_slip_of_the_finger_then_the_word_the_catalogue_uses_more():
    assert keyboard_slip("sofs", "sofa") and not keyboard_slip("sofs", "soft") and not keyboard_slip("sofa", "sofa")
    speller = SpellingCorrector({"sofa": 2, "soft": 9, "sons": 5})
    assert [c.corrected for c in speller.candidates("sofs")] == ["sofa", "soft", "sons"]  # s is next to a
    assert [c.corrected for c in speller.candidates("sofp")] == ["soft", "sofa"]  # p is next to neither: usage decides


def test_english_words_are_corrected_only_when_asked():
    speller = SpellingCorrector(["bear", "teddy"])
    assert speller.correct("teddy beer").text == "teddy beer"  # "beer" is English: probably meant
    assert speller.correct("teddy beer", keep_english=False).text == "teddy bear"  # e.g. after zero results


def test_extra_known_words_are_kept():
    assert SpellingCorrector(["nimbus"], known=["nimbis"]).correct("nimbis").text == "nimbis"


def test_the_corrections_kept_are_bounded_however_many_words_are_typed(monkeypatch):
    from engine.search import spelling

    monkeypatch.setattr(spelling, "CORRECTION_CACHE", 3)
    corrector = SpellingCorrector.from_texts(["keyboard mouse sofa lantern"])
    typed = ["keybaord", "mosue", "sofs", "lantren", "zzzzqq", "keybaord"]
    answers = [corrector.correct_word(word) for word in typed]
    assert [a.corrected if a else None for a in answers] == ["keyboard", "mouse", "sofa", "lantern", None, "keyboard"]
    assert len(corrector._cache) == 3
