"""Reviews: analysis in two languages, writing in three modalities, ranking, photo check, summaries, G."""

import csv
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.catalogue.products import Product
from engine.errors import InvalidInputError
from engine.recommend import (
    evaluate,
    examples,
    popularity_of,
    product_features,
    query_vectors,
    review_signals,
    simulated_logs,
    train,
)
from engine.reviews.analysis import Analyser, detect_language
from engine.reviews.desk import ReviewDesk
from engine.reviews.evaluation import LABELLED
from engine.reviews.evaluation import main as evaluation_main
from engine.reviews.ranking import RankedReview, rank
from engine.reviews.store import Review
from engine.reviews.summary import REVIEW_FEATURES
from engine.service import ShopLens
from engine.settings import BUNDLED_CATALOGUE
from engine.shoppers.model import ProductFeatures
from engine.shoppers.simulate import Persona, ReviewSignal
from tests.conftest import write_catalogue

DAY = 86400.0
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def analyser():
    return Analyser()


# --- analysis -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "label", "aspects", "issues"),
    [
        ("Super comfy and the colour is lovely, but it runs small.", "positive",
         {"comfort": 1, "looks": 1, "size": -1}, {"size": "runs small"}),
        ("Not comfortable at all, and it fell apart after a week. Waste of money.", "negative",
         {"comfort": -1, "quality": -1, "price": -1}, {"quality": "broke quickly", "price": "overpriced"}),
        ("Not too tight, fits well and arrived quickly.", "positive", {"size": 1, "delivery": 1}, {}),
        ("质量很好，就是偏小，建议拍大一码。", "neutral", {"quality": 1, "size": -1}, {"size": "runs small"}),
        ("不是很舒服，颜色也有色差，失望。", "negative", {"comfort": -1, "looks": -1}, {"looks": "not as pictured"}),
        ("颜色不要太好看！物流很快，包装严实。", "positive", {"looks": 1, "delivery": 1}, {}),
        # SnowNLP hears the three negations as complaints, so the label is not asserted; the aspects come out right
        ("没有色差，做工不错，不会磨脚。", None, {"looks": 1, "quality": 1, "comfort": 1}, {}),
    ],
)  # fmt: skip
def test_sentiment_and_aspects_in_english_and_chinese(analyser, text, label, aspects, issues):
    analysis = analyser.analyse(text)
    assert analysis.language == detect_language(text) == ("zh" if any("\u4e00" <= c <= "\u9fff" for c in text) else "en")
    assert (analysis.aspects, analysis.issues) == (aspects, issues)
    assert label is None or analysis.label == label
    assert -1 <= analysis.sentiment <= 1


def test_complaints_the_libraries_miss_still_count_against_the_review(analyser):
    runs_small = analyser.analyse("Runs small. Size up.")
    assert analyser.library_score("Runs small. Size up.", "en") == 0  # VADER hears nothing wrong
    assert runs_small.sentiment < 0 and runs_small.aspects == {"size": -1}


# --- the bundled reviews ------------------------------------------------------------------------------
def test_bundled_reviews_are_labelled_generated_bilingual_varied_and_small():
    folder = BUNDLED_CATALOGUE.parent
    rows = [json.loads(line) for line in (folder / "reviews.jsonl").read_text(encoding="utf-8").splitlines()]
    products = {json.loads(line)["id"] for line in BUNDLED_CATALOGUE.read_text(encoding="utf-8").splitlines()}
    per_product = {pid: sum(r["product_id"] == pid for r in rows) for pid in products}
    assert max(per_product.values()) == 8 and min(per_product.values()) == 0 and set(per_product) == products
    assert all(r["generated"] for r in rows) and {r["language"] for r in rows} == {"en", "zh"}
    assert {r["stars"] for r in rows} == {1, 2, 3, 4, 5}
    lengths = sorted(len(r["text"]) for r in rows)
    assert lengths[len(lengths) // 10] * 3 < lengths[-len(lengths) // 10]  # short and long ones
    with_photos = [r for r in rows if r.get("photo")]
    assert 0.1 < len(with_photos) / len(rows) < 0.4
    assert 3 <= sum(r["photo_of"] != r["product_id"] for r in with_photos) < 0.2 * len(with_photos)
    with (folder / "SOURCES.csv").open(encoding="utf-8") as handle:
        generated = {row["image"] for row in csv.DictReader(handle) if row["source"] == "generated"}
    assert generated == {"reviews.jsonl"} | {r["photo"] for r in with_photos}
    size = (folder / "reviews.jsonl").stat().st_size + sum((folder / r["photo"]).stat().st_size for r in with_photos)
    assert size < 2_000_000


# --- writing ------------------------------------------------------------------------------------------
@pytest.fixture
def shop_settings(make_settings, tmp_path):
    catalogue = write_catalogue(tmp_path / "shop")
    return make_settings(catalog=catalogue, privacy_release_hours=0, privacy_min_count=20)


@pytest.fixture
def desk(shop_settings):
    shop = ShopLens(shop_settings)
    shop.start(speech=False)
    return ReviewDesk(shop_settings, shop.embedder, shop.store, rng=np.random.default_rng(0))


def test_a_review_in_three_modalities_text_photo_and_corrected_voice_note(desk, shop_settings, shared_speech, speak):
    typed = desk.post("alice", "p001", 5, "Love it, really comfortable.")
    assert (typed.stars, typed.language, typed.author, typed.photo, typed.transcript) == (5, "en", "a shopper", None, None)

    photo = shop_settings.catalog.parent / "images" / "p002.png"
    with_photo = desk.post("bob", "p002", 4, "质量很好，颜色很正。", photo=photo)
    assert with_photo.language == "zh" and with_photo.photo.is_file()
    assert with_photo.photo.parent == shop_settings.data_dir / "review-photos"
    with Image.open(with_photo.photo) as stored:
        assert stored.format == "JPEG" and not stored.getexif()  # re-encoded: no metadata kept

    voice = ReviewDesk(shop_settings, desk.embedder, desk.store, shared_speech)
    transcript = voice.transcribe(speak("These shoes are very comfortable and they fit well."), language="en")
    assert "comfortable" in transcript.text.lower()
    corrected = transcript.text.replace("shoes", "boots")  # the shopper corrects it before posting
    spoken = voice.post("carol", "p003", 5, corrected, transcript=transcript.text)
    assert (spoken.text, spoken.transcript) == (corrected, transcript.text)
    assert voice.ranked("p003")[0].analysis.aspects == {"comfort": 1, "size": 1}

    with pytest.raises(InvalidInputError, match="1 to 5 stars"):
        desk.post("alice", "p001", 6, "Too good")
    with pytest.raises(InvalidInputError, match="few words"):
        desk.post("alice", "p001", 3, "   ")
    with pytest.raises(InvalidInputError, match="no longer in the catalogue"):
        desk.post("alice", "nope", 3, "Fine")


def test_posting_again_edits_and_votes_count_once_and_never_for_oneself(desk):
    first = desk.post("alice", "p001", 2, "Runs small.")
    again = desk.post("alice", "p001", 4, "Runs small, but the exchange was easy.")
    assert again.id == first.id and [r.review.stars for r in desk.ranked("p001")] == [4]
    assert not desk.vote("alice", first.id)
    assert desk.vote("bob", first.id) and not desk.vote("bob", first.id) and desk.vote("carol", first.id)
    ranked = desk.ranked("p001", shopper="alice")
    assert ranked[0].review.helpful == 2 and ranked[0].mine and not desk.ranked("p001", shopper="bob")[0].mine
    assert not desk.delete("bob", first.id) and desk.delete("alice", first.id) and desk.ranked("p001") == []


# --- ranking ------------------------------------------------------------------------------------------
def make_review(i: int, stars: int = 5, text: str = "Nice.", helpful: int = 0, age_days: float = 10) -> Review:
    created = NOW - age_days * DAY
    return Review(f"r{i}", "p", stars, text, "en", "a shopper", "bundled", None, None, helpful, created, created, None)


def ranked_ids(analyser, reviews: list[Review], photos=None) -> list[RankedReview]:
    return rank(reviews, {r.id: analyser.analyse(r.text, "en") for r in reviews}, photos or {}, NOW)


def test_helpful_long_and_substantive_reviews_rank_first_and_say_why(analyser):
    reviews = [
        make_review(1, text="Great."),
        make_review(2, text="Comfortable, true to size and great value; the colour is exactly as pictured.", helpful=12,
                    age_days=200),
        make_review(3, text="Great.", helpful=12, age_days=700),
    ]
    ranked = ranked_ids(analyser, reviews)
    assert [r.review.id for r in ranked] == ["r2", "r3", "r1"]
    assert ranked[0].why() == "12 found it helpful · covers comfort, looks, price, size"
    assert ranked[0].why("zh", {"comfort": "舒适"}).startswith("12人觉得有用 · 谈到舒适")
    assert all(sum(r.parts.values()) == pytest.approx(r.score, abs=1e-3) for r in ranked)


def test_the_top_three_are_not_all_five_stars_when_critical_reviews_exist(analyser):
    praise = [make_review(i, 5, "Lovely, comfortable and well made.", helpful=20 - i) for i in range(4)]
    critical = make_review(9, 2, "It fell apart after a week.", helpful=1, age_days=300)
    ranked = ranked_ids(analyser, praise + [critical])
    assert [r.review.stars for r in ranked[:3]] == [5, 5, 2]
    assert ranked[2].reasons[0] == ("review.balance", {}) and ranked[2].why().startswith("a critical view")
    assert [r.review.stars for r in ranked_ids(analyser, praise)[:3]] == [5, 5, 5]  # nothing critical to show


# --- photo check --------------------------------------------------------------------------------------
def test_a_photo_of_another_product_is_flagged_and_ranked_down(desk, shop_settings, tmp_path):
    images = shop_settings.catalog.parent / "images"
    vectors = desk.store.vectors([f"p{i:03d}" for i in range(12)], "image")
    unlike = min((pid for pid in vectors if pid != "p000"), key=lambda pid: float(vectors[pid] @ vectors["p000"]))
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    with Image.open(images / "p000.png") as original:
        original.convert("RGB").rotate(4, fillcolor="white").save(snaps / "tilted.jpg")
        original.convert("RGB").crop((3, 3, 93, 93)).save(snaps / "cropped.jpg")
    shutil.copy(images / f"{unlike}.png", snaps / "other.png")
    for shopper, name in (("ann", "tilted.jpg"), ("ben", "cropped.jpg"), ("cat", "other.png")):
        desk.post(shopper, "p000", 5, "Lovely, comfortable and well made.", photo=snaps / name)

    checks = {r.review.id: r.photo for r in desk.ranked("p000")}
    flagged = [rid for rid, check in checks.items() if not check.matches]
    assert len(flagged) == 1
    ranked = desk.ranked("p000")
    assert ranked[-1].review.id == flagged[0] and ranked[-1].reasons == (("review.photo_mismatch", {}),)
    assert ranked[-1].photo.z < min(r.photo.z for r in ranked[:-1])
    assert all(r.reasons and "photo of the product" in r.why() for r in ranked[:-1])


# --- summaries and statistics -----------------------------------------------------------------------
def write_bundled(catalogue: Path, rows: list[tuple[str, int, str]]) -> None:
    lines = [json.dumps({"id": f"b{i}", "product_id": pid, "stars": stars, "language": detect_language(text), "text": text,
                         "author": "Mia", "date": "2025-12-01", "helpful": 0, "generated": True})
             for i, (pid, stars, text) in enumerate(rows)]  # fmt: skip
    (catalogue.parent / "reviews.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


BUNDLED = [
    ("p001", 5, "So comfortable, and it looks great."),
    ("p001", 4, "Comfortable all day, but it runs small."),
    ("p001", 2, "Runs small and the delivery took ages."),
    ("p001", 5, "很舒服，颜值高。"),
    ("p002", 5, "Great value."),
    ("p003", 2, "Flimsy."),
    ("p003", 1, "It broke on day one."),
]


def test_summary_counts_likes_and_dislikes_and_stats_feed_search(desk, shop_settings):
    write_bundled(shop_settings.catalog, BUNDLED)
    assert desk.sync_bundled() == 7 and desk.sync_bundled() == 0
    assert desk.summary_text("p001") == "Shoppers like: comfort (3), looks (2) · dislike: runs small (2), slow delivery (1)"
    assert desk.summary_text("p001", "zh") == "买家喜欢：舒适（3）、外观（2） · 不满意：偏小（2）、物流慢（1）"
    assert desk.summary_text("p003") == "Dislike: broke quickly (1), poor quality (1)"
    stats = desk.stats()
    assert (stats["p001"].count, stats["p001"].stars) == (4, 4.0)
    assert set(stats) == {"p001", "p002", "p003"}  # noise alone never passes the threshold of 20
    assert stats["p002"].stars == 5 and stats["p002"].score < 4  # a single 5★ review is shrunk to the shop's mean
    assert [pid for pid, s in sorted(stats.items()) if s.four_and_up] == ["p001", "p002"]
    best = sorted(stats, key=lambda pid: -stats[pid].score)
    assert best[-1] == "p003"

    write_bundled(shop_settings.catalog, BUNDLED[:4])  # the catalogue's file changed: stale rows go
    desk.sync_bundled()
    assert set(desk.stats()) == {"p001"}


def test_reviews_become_the_review_block_of_the_product_vector(desk, shop_settings):
    write_bundled(shop_settings.catalog, BUNDLED)
    ids = [f"p{i:03d}" for i in range(12)]
    block = desk.features(ids)
    assert all(len(v) == len(REVIEW_FEATURES) == 10 for v in block.values())
    assert block["p001"][:2].tolist() == pytest.approx([1.0, 0.8]) and block["p005"].tolist() == [0.0] * 10
    comfort = REVIEW_FEATURES.index("aspect comfort")
    assert block["p001"][comfort] > 0 > block["p003"][REVIEW_FEATURES.index("aspect quality")]

    products = list(desk.store.products(ids).values())
    image, text = desk.store.vectors(ids, "image"), desk.store.vectors(ids, "text")
    plain = ProductFeatures.build(products, image, text, ["bags", "shoes", "toys"], ["red"])
    reviewed = ProductFeatures.build(products, image, text, ["bags", "shoes", "toys"], ["red"], block)
    assert reviewed.matrix.shape[1] == plain.matrix.shape[1] + 10 and reviewed.review_dim == 10
    np.testing.assert_array_equal(reviewed.matrix[:, : plain.matrix.shape[1]], plain.matrix)
    np.testing.assert_array_equal(reviewed.matrix[reviewed.index()["p001"], -10:], block["p001"])


def test_simulated_shoppers_read_the_aspects_they_care_about():
    persona = Persona("p", {"shoes": 1.0}, {"red"}, set(), 3.0, cares={"size": 1.0}, review_trust=1.0)
    praised = ReviewSignal(4.0, {"size": 0.8})
    panned = ReviewSignal(4.0, {"size": -0.8})
    assert persona.review_utility(praised) > persona.review_utility(None) == 0 > persona.review_utility(panned)
    product = json.loads(BUNDLED_CATALOGUE.read_text(encoding="utf-8").splitlines()[0])
    shoe = Product.model_validate({**product, "image": BUNDLED_CATALOGUE.parent / product["image"]})
    rng_a, rng_b = random.Random(1), random.Random(1)
    assert persona.utility(shoe, rng_a, praised) > persona.utility(shoe, rng_b, panned)


# --- evaluation ---------------------------------------------------------------------------------------
def test_labelled_reviews_and_the_evaluation_table(capsys):
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    for language in ("en", "zh"):
        mine = [r for r in rows if r["language"] == language]
        assert len(mine) >= 60 and sum(r["source"] == "handwritten" for r in mine) >= len(mine) / 2
        assert {r["sentiment"] for r in mine} == {"positive", "neutral", "negative"}
    assert evaluation_main([]) == 0
    table = capsys.readouterr().out
    for language in ("en", "zh"):
        for method in ("analyser", "word lists alone"):
            assert f"| {language} | all | {method} | 66 |" in table and f"| {language} | hand-written | {method} | 46 |" in table


# --- reviews in the recommender ------------------------------------------------------------------------
def test_recommender_trains_and_evaluates_with_and_without_review_features(bundled_settings):
    settings = bundled_settings(privacy_release_hours=0, reviews_in_product_model=False)  # the app's G: plain
    shop = ShopLens(settings)
    shop.start(speech=False)
    desk = ReviewDesk(settings, shop.embedder, shop.store, rng=np.random.default_rng(0))
    signals = review_signals(desk)  # what the bundled reviews say, as shoppers may see it
    reviewed_products = {json.loads(line)["product_id"] for line in (BUNDLED_CATALOGUE.parent / "reviews.jsonl").open()}
    assert set(signals) == reviewed_products and all(1 <= s.stars <= 5 for s in signals.values())
    training = simulated_logs(shop, personas=40, searches=6, seed=1, reviews=signals)
    blind = simulated_logs(shop, personas=40, searches=6, seed=1)
    assert [s.engaged for s in training] != [s.engaged for s in blind]  # shoppers who read reviews choose differently
    held_out = simulated_logs(shop, personas=15, searches=6, seed=2, reviews=signals)
    queries = query_vectors(shop, training + held_out)
    plain, reviewed = shop.personal.features, product_features(shop, desk)
    assert reviewed.matrix.shape[1] == plain.matrix.shape[1] + len(REVIEW_FEATURES)
    models = {}
    for name, features in (("plain", plain), ("reviewed", reviewed)):
        data = examples(training, features, queries, seed=1)
        models[name], losses = train(data, features.matrix.shape[1], features.clip_dim, epochs=60)
        assert losses[-1] < losses[0]
    results = evaluate(models["plain"], held_out, plain, queries, popularity_of(training),
                       {"with review features": (models["reviewed"], reviewed)})  # fmt: skip
    assert set(results) == {"learned scorer", "query relevance", "popularity", "history average", "with review features"}
    assert all(0 <= v <= 1 for metrics in results.values() for v in metrics.values())
