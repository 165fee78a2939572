"""The vector store, against embedded Chroma and against a real ``chroma run`` server."""

import numpy as np
import pytest

from engine.catalogue.hnsw import SYNC_THRESHOLD
from engine.catalogue.products import ImageStamp, load_catalogue
from engine.catalogue.records import ContentVersion, record_id
from engine.catalogue.store import ProductStore
from engine.errors import IndexMismatchError, StoreUnavailableError
from engine.models.clip import VectorSpace

SPACE = VectorSpace("test-model", 8)


def unit_rows(count: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def filled(store_settings, catalogue_path):
    products = load_catalogue(catalogue_path).products
    store = ProductStore(store_settings(), SPACE)
    images, texts = unit_rows(len(products), seed=1), unit_rows(len(products), seed=2)
    store.upsert(products, images, texts, versions(len(products)))
    return store, products, images, texts


def record_ids(store: ProductStore) -> list[str]:
    """Every record in the store's two collections (text records, image records)."""
    return [rid for collection in (store._collection, store._images) for rid in collection.get(include=[])["ids"]]


def versions(count: int) -> list[ContentVersion]:
    return [ContentVersion(f"h{i}", ImageStamp(f"d{i}", 100 + i, 1_764_000_000_123_456_789 + i)) for i in range(count)]


def test_upsert_is_idempotent_with_deterministic_ids(filled):
    store, products, images, texts = filled
    store.upsert(products, images, texts, versions(len(products)))
    assert store.count() == len(products)
    assert len(record_ids(store)) == 2 * len(products)
    assert set(record_ids(store)) == {record_id(p.id, k) for p in products for k in ("image", "text")}
    assert store.versions()["p004"] == versions(5)[4]


def test_restamp_changes_only_the_image_stamp(filled):
    store, products, images, _ = filled
    stamp = ImageStamp("d4", 999, 1_800_000_000_000_000_001)
    store.restamp({"p004": stamp})
    assert store.versions()["p004"] == ContentVersion("h4", stamp)
    assert store.versions()["p003"] == versions(4)[3]
    np.testing.assert_allclose(store.vectors(["p004"], "image")["p004"], images[4], atol=1e-6)
    assert store.products(["p004"])["p004"] == products[4]


def test_records_without_an_image_stamp_read_as_unstamped(filled):
    store, products, images, texts = filled
    store.delete(["p000"])
    store.upsert(products[:1], images[:1], texts[:1], [ContentVersion("h-old")])
    assert store.versions()["p000"] == ContentVersion("h-old", None)


def test_query_returns_cosine_similarity_best_first(filled):
    store, products, images, _ = filled
    matches = store.query(images[3], "image", 5)
    assert matches[0].product_id == products[3].id and matches[0].similarity == pytest.approx(1.0, abs=1e-4)
    expected = sorted(((float(images[i] @ images[3]), p.id) for i, p in enumerate(products)), reverse=True)[:5]
    assert [m.product_id for m in matches] == [pid for _, pid in expected]
    np.testing.assert_allclose([m.similarity for m in matches], [s for s, _ in expected], atol=1e-4)


def test_filters_are_applied_inside_the_store(filled):
    store, products, images, _ = filled
    where = {"$and": [{"category": {"$in": ["toys"]}}, {"price": {"$lte": 90.0}}]}
    matches = store.query(images[0], "text", 20, where)
    allowed = {p.id for p in products if p.category == "toys" and p.price <= 90}
    assert {m.product_id for m in matches} == allowed and len(allowed) == 3


def test_products_and_vectors_round_trip(filled):
    store, products, images, texts = filled
    assert store.products(["p002", "p005"]) == {"p002": products[2], "p005": products[5]}
    np.testing.assert_allclose(store.vectors(["p007"], "text")["p007"], texts[7], atol=1e-6)
    assert store.categories() == ["bags", "shoes", "toys"]


def test_delete_removes_both_records(filled):
    store, products, _, _ = filled
    store.delete(["p000", "p001"])
    assert store.count() == len(products) - 2
    assert store.products(["p000"]) == {} and store.vectors(["p001"], "image") == {}


def test_reopening_with_another_model_or_dimension_is_refused(filled, store_settings):
    store, products, _, _ = filled
    with pytest.raises(IndexMismatchError, match="holds vectors from test-model .dim 8.*--rebuild"):
        ProductStore(store_settings(), VectorSpace("other-model", 8))
    with pytest.raises(IndexMismatchError, match="dim 16"):
        ProductStore(store_settings(), VectorSpace("test-model", 16))
    with pytest.raises(IndexMismatchError, match="shape"):
        store.upsert(products[:1], unit_rows(1, dim=16), unit_rows(1, dim=16), [ContentVersion("x")])
    assert store.count() == len(products)  # nothing lost to the refused writes


def test_rebuild_starts_an_empty_index_in_the_new_space(filled, store_settings):
    rebuilt = ProductStore(store_settings(), VectorSpace("other-model", 4), rebuild=True)
    assert rebuilt.count() == 0
    assert ProductStore(store_settings(), VectorSpace("other-model", 4)).count() == 0


def test_data_survives_a_new_client(filled, store_settings):
    store, products, images, _ = filled
    reopened = ProductStore(store_settings(), SPACE)
    assert reopened.count() == len(products)
    assert reopened.query(images[5], "image", 1)[0].product_id == products[5].id


def test_unreachable_server_is_a_clear_error(make_settings):
    from tests.conftest import free_port

    with pytest.raises(StoreUnavailableError, match="Cannot reach the Chroma server.*chroma run"):
        ProductStore(make_settings(chroma_url=f"http://127.0.0.1:{free_port()}"), SPACE)


# --- HNSW settings ------------------------------------------------------------------------------------
def test_hnsw_settings_reach_the_collection_configuration(store_settings):
    store = ProductStore(store_settings(hnsw_m=24, hnsw_ef_construction=150, hnsw_ef_search=80), SPACE)
    for collection in (store._collection, store._images):
        hnsw = collection.configuration_json["hnsw"]
        assert (hnsw["max_neighbors"], hnsw["ef_construction"], hnsw["ef_search"], hnsw["space"]) == (24, 150, 80, "cosine")
    reopened = ProductStore(store_settings(hnsw_m=24, hnsw_ef_construction=150, hnsw_ef_search=120), SPACE)
    for collection in (reopened._collection, reopened._images):
        assert reopened._client.get_collection(collection.name).configuration_json["hnsw"]["ef_search"] == 120
    reopened.set_ef_search(40)  # bench/scale.py's sweep: it must not be undone by the re-open that applies it
    for collection in (reopened._collection, reopened._images):
        assert reopened._client.get_collection(collection.name).configuration_json["hnsw"]["ef_search"] == 40


def test_without_an_ef_search_setting_each_graph_gets_the_ef_search_its_density_needs(store_settings):
    """ef_search follows the graph a collection was built with, not today's settings: an index built with
    the older, sparser default keeps the wider search its recall needs until it is rebuilt."""
    base = store_settings().collection[:50]
    dense = ProductStore(store_settings(collection=f"{base}-dense"), SPACE)  # today's defaults
    assert (dense.hnsw["max_neighbors"], dense.hnsw["ef_construction"], dense.hnsw["ef_search"]) == (32, 200, 100)
    sparse = ProductStore(store_settings(collection=f"{base}-sparse", hnsw_m=16, hnsw_ef_construction=100), SPACE)
    assert sparse.hnsw["ef_search"] == 200
    reopened = ProductStore(store_settings(collection=f"{base}-sparse"), SPACE)
    assert reopened.hnsw["max_neighbors"] == 16 and reopened.hnsw["ef_search"] == 200
    chosen = ProductStore(store_settings(collection=f"{base}-sparse", hnsw_ef_search=60), SPACE)
    assert chosen.hnsw["ef_search"] == 60  # a setting, when given, wins
    assert store_settings(hnsw_ef_search=" ").hnsw_ef_search is None  # SHOPLENS_HNSW_EF_SEARCH= means unset


def test_existing_collections_get_the_sync_threshold_that_keeps_chromas_log_short(store_settings):
    """Chroma's default (1000) was kept by indexes made before: re-opening one applies ours."""
    settings = store_settings()
    store = ProductStore(settings, SPACE)
    for collection in (store._collection, store._images):
        assert collection.configuration_json["hnsw"]["sync_threshold"] == SYNC_THRESHOLD
        collection.modify(configuration={"hnsw": {"sync_threshold": 1000}})  # as an older index has it
    reopened = ProductStore(settings, SPACE)
    for collection in (reopened._collection, reopened._images):
        assert reopened._client.get_collection(collection.name).configuration_json["hnsw"]["sync_threshold"] == SYNC_THRESHOLD


def test_many_small_write_sessions_leave_a_short_log_for_the_next_reader_to_replay(make_settings):
    """Each write session here has a client of its own, as the command-line indexer run again and again has.
    What Chroma has not yet written into a collection's graph on disk waits in its log, and every process
    that opens the index replays it, holding Python's lock: the log must stay near SYNC_THRESHOLD records."""
    settings = make_settings()
    for collection in (made := ProductStore(settings, SPACE))._collection, made._images:  # made with Chroma's default
        collection.modify(configuration={"hnsw": {"sync_threshold": 1000}})
    store = ProductStore(settings, SPACE)  # re-opened: ours applies
    products = [p.model_copy(update={"id": f"q{i:03d}"}) for i, p in enumerate((load_catalogue_products() * 2)[:360])]
    for start in range(0, 360, 30):
        store._reconnect()  # a fresh embedded client, as a new process would open
        batch = products[start : start + 30]
        store.upsert(batch, unit_rows(30, seed=start), unit_rows(30, seed=start + 1), versions(30))
    assert max(unreplayed_records(settings).values()) < 150  # of 360 written: at most about one SYNC_THRESHOLD and a session


def load_catalogue_products():
    from engine.settings import BUNDLED_CATALOGUE

    return load_catalogue(BUNDLED_CATALOGUE).products


def unreplayed_records(settings) -> dict[str, int]:
    """Per collection: log records its HNSW graph on disk does not hold yet (Chroma's own bookkeeping tables)."""
    import sqlite3

    with sqlite3.connect(settings.chroma_path / "chroma.sqlite3") as db:
        seen = dict(db.execute("SELECT segment_id, seq_id FROM max_seq_id"))
        segments = db.execute("SELECT id, type, collection FROM segments").fetchall()
    by_collection: dict[str, dict[str, int]] = {}
    for segment, kind, collection in segments:
        by_collection.setdefault(collection, {})["graph" if "hnsw" in kind else "records"] = seen.get(segment, 0)
    return {collection: seqs["records"] - seqs["graph"] for collection, seqs in by_collection.items()}
