"""Search plumbing with a random tiny CLIP: ordering, score arithmetic, filters, combination, voice.

The vector arithmetic is checked in ``mode="vector"`` with word understanding off, so the expected
ranking is exactly the documented weighted sum of cosine similarities.
"""

import numpy as np
import pytest

from engine.catalogue.images import load_image
from engine.catalogue.records import ContentVersion
from engine.errors import InvalidInputError, NoSpeechError
from engine.search.fusion import WEIGHTS, Candidate, compose, unit
from engine.service import ShopLens
from engine.types import Filters, Query, make_filters

VECTOR = dict(mode="vector", understand=False)


@pytest.fixture
def shop(make_settings, catalogue_path, shared_speech):
    shop = ShopLens(make_settings(catalog=catalogue_path))
    shop.speech = shared_speech  # one loaded Whisper for the session
    shop.start(speech=False)
    return shop


def all_vectors(shop, kind):
    ids = sorted(shop.store.stored_product_ids())
    vectors = shop.store.vectors(ids, kind)
    return ids, np.stack([vectors[pid] for pid in ids])


def expected_ranking(shop, query_vector, weights, allowed=None):
    ids, images = all_vectors(shop, "image")
    _, texts = all_vectors(shop, "text")
    scores = weights[0] * images @ query_vector + weights[1] * texts @ query_vector
    ranked = sorted(zip(-scores, ids))
    return [(pid, -score) for score, pid in ranked if allowed is None or pid in allowed]


def test_text_query_scores_are_the_documented_weighted_sum(shop):
    result = shop.search(Query(text="red shoe", k=5, **VECTOR))
    query_vector = shop.embedder.embed_texts(["red shoe"])[0]
    expected = expected_ranking(shop, query_vector, WEIGHTS["words"])[:5]
    assert [hit.product.id for hit in result.hits] == [pid for pid, _ in expected]
    for hit, (_, score) in zip(result.hits, expected):
        assert hit.score == pytest.approx(score, abs=1e-4)
        assert hit.score == pytest.approx(0.5 * hit.similarity["image"] + 0.5 * hit.similarity["text"], abs=1e-6)
        assert set(hit.similarity) == {"image", "text"} and hit.matched
    assert set(result.timings) == {"embedding", "vector_search", "lexical", "ranking", "rest"}
    assert all(hit.breakdown["lexical"] == 0 and sum(hit.breakdown.values()) == pytest.approx(hit.score) for hit in result.hits)


def test_image_query_leans_on_product_images(shop, catalogue_path):
    photo = catalogue_path.parent / "images" / "p004.png"
    result = shop.search(Query(image=photo, k=4, **VECTOR))
    query_vector = shop.embedder.embed_images([load_image(photo, max_bytes=10**7, max_pixels=10**7)])[0]
    expected = expected_ranking(shop, query_vector, WEIGHTS["photo"])[:4]
    assert [hit.product.id for hit in result.hits] == [pid for pid, _ in expected]
    assert result.hits[0].similarity["image"] == pytest.approx(1.0, abs=1e-4)  # p004 itself or its twin p008


def test_text_and_photo_combine_into_one_query_vector(shop, catalogue_path):
    photo = catalogue_path.parent / "images" / "p001.png"
    result = shop.search(Query(text="blue bag", image=photo, k=6, **VECTOR))
    text_vector = shop.embedder.embed_texts(["blue bag"])[0]
    image_vector = shop.embedder.embed_images([load_image(photo, max_bytes=10**7, max_pixels=10**7)])[0]
    combined = (text_vector + image_vector) / np.linalg.norm(text_vector + image_vector)
    expected = expected_ranking(shop, combined, WEIGHTS["both"])[:6]
    assert [hit.product.id for hit in result.hits] == [pid for pid, _ in expected]


def test_filters_restrict_results_and_keep_the_order(shop):
    filters = make_filters(categories=["Toys", "bags"], price_min=20, price_max=100)
    result = shop.search(Query(text="gift", filters=filters, k=10, **VECTOR))
    allowed = {p.id for p in shop.store.products(sorted(shop.store.stored_product_ids())).values()
               if p.category in ("toys", "bags") and 20 <= p.price <= 100}  # fmt: skip
    query_vector = shop.embedder.embed_texts(["gift"])[0]
    expected = expected_ranking(shop, query_vector, WEIGHTS["words"], allowed)
    assert [hit.product.id for hit in result.hits] == [pid for pid, _ in expected] and len(expected) == 6


def test_rating_filter_and_empty_filter_results(shop):
    assert all(hit.product.rating >= 4 for hit in shop.search(Query(text="x", filters=Filters(rating_min=4), k=12)).hits)
    empty = shop.search(Query(text="x", filters=Filters(price_min=5000)))
    assert empty.hits == [] and empty.pool == [] and empty.total == 0


def test_voice_query_is_transcribed_and_searched(shop, speak):
    result = shop.search(Query(audio=speak("a brown teddy bear"), k=3, **VECTOR))
    assert result.transcript.text.lower().strip(".") == "a brown teddy bear"
    query_vector = shop.embedder.embed_texts([result.transcript.text])[0]
    assert [h.product.id for h in result.hits] == [pid for pid, _ in expected_ranking(shop, query_vector, WEIGHTS["words"])[:3]]
    assert result.timings["speech"] > 0


def test_typed_text_and_voice_together(shop, speak):
    result = shop.search(Query(text="red", audio=speak("a brown teddy bear"), k=3, **VECTOR))
    words = shop.embedder.embed_texts([f"red {result.transcript.text}"])[0]  # typed and spoken words read as one
    assert [h.product.id for h in result.hits] == [pid for pid, _ in expected_ranking(shop, words, WEIGHTS["words"])[:3]]


def test_an_empty_query_browses_and_bad_filters_are_refused_clearly(shop):
    browsed = shop.search(Query(text="   \n ", k=3))
    assert browsed.browsed and browsed.words == "" and len(browsed.hits) == 3
    ratings = [hit.product.rating for hit in browsed.pool]
    assert ratings == sorted(ratings, reverse=True)
    with pytest.raises(InvalidInputError, match="lowest price is above the highest price"):
        make_filters(price_min=50, price_max=10)
    with pytest.raises(InvalidInputError, match="Please check the filters"):
        make_filters(price_min=-1)


def test_very_long_text_is_cut_with_a_notice(shop):
    result = shop.search(Query(text="lovely gift " * 1800))  # 21,600 characters
    assert len(result.hits) == 5
    assert result.notices == [("notice.long_query", {"limit": 1000})]


def test_bad_inputs_lose_nothing_already_indexed(shop, tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVEfmt ")
    with pytest.raises(InvalidInputError):
        shop.search(Query(image=tmp_path / "bad.jpg"))
    with pytest.raises(InvalidInputError):
        shop.search(Query(audio=tmp_path / "bad.wav"))
    assert shop.store.count() == 12 and len(shop.search(Query(text="gift")).hits) == 5


def test_silent_voice_query_says_no_speech(shop, tmp_path):
    from tests.conftest import ffmpeg

    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "2", str(tmp_path / "quiet.wav"))
    with pytest.raises(NoSpeechError):
        shop.search(Query(text="", audio=tmp_path / "quiet.wav"))


def test_similar_products_exclude_the_product_itself(shop):
    hits = shop.similar("p003", k=4)
    ids = [hit.product.id for hit in hits]
    assert "p003" not in ids and len(ids) == 4
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    with pytest.raises(InvalidInputError, match="no longer in the catalogue"):
        shop.similar("nope")


def test_searches_read_no_product_vectors_and_a_new_catalogue_version_reads_them_once(shop, monkeypatch):
    """A candidate's missing similarity comes from the snapshot's vector table, read once per catalogue version
    (a new version: only the products written since)."""
    from engine.search import candidates

    monkeypatch.setattr(candidates, "CANDIDATES", 2)  # fewer neighbours than products: some similarities are missing
    reads = []
    record_vectors = shop.store.record_vectors
    monkeypatch.setattr(shop.store, "record_vectors", lambda records: reads.append(list(records)) or record_vectors(records))
    query = Query(text="red shoes", understand=False)
    first, again = shop.search(query), shop.search(query)
    assert reads == []  # the snapshot was read at start
    assert [(h.product.id, h.score) for h in again.hits] == [(h.product.id, h.score) for h in first.hits]
    assert any(len({"image", "text"} & set(hit.matched)) < 2 for hit in first.hits)  # some similarity was filled in
    asked = compose(unit(shop.engine.text_vector("red shoes")), None, None, query.text_weight)
    for hit in first.hits:  # every similarity, found by Chroma or filled in, is the stored vector's
        for kind in ("image", "text"):
            stored = record_vectors([(hit.product.id, kind)])[(hit.product.id, kind)]
            assert hit.similarity[kind] == pytest.approx(float(stored @ asked), abs=1e-5)

    changed = first.hits[-1].product  # re-embedded with new vectors: a new catalogue version
    image, text = np.zeros((1, shop.store.space.dim), np.float32), np.zeros((1, shop.store.space.dim), np.float32)
    image[0, 0] = text[0, 1] = 1.0
    shop.store.upsert([changed], image, text, [ContentVersion("changed")])
    snapshot = shop.engine.refresh()
    assert len(reads) == 1 and {pid for pid, _ in reads[0]} == {changed.id}  # only what was written, in one pass
    position = snapshot.lexical.position[changed.id]
    np.testing.assert_array_equal(snapshot.vectors.vector(position, "image"), image[0])
    shop.search(query)
    assert len(reads) == 1
    lacking = {changed.id: Candidate(position=position)}  # found by neither vector: both similarities from the table
    shop.engine.candidates.fill_missing_similarities(lacking, asked, snapshot)
    assert lacking[changed.id].similarity == pytest.approx({"image": float(asked[0]), "text": float(asked[1])}, abs=1e-6)
