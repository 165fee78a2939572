"""Behaviour that keeps search flat as the catalogue grows (issue #10); speed itself is measured in bench/scale.py.

- the catalogue version: odd while a writer works, even after; readers follow it without a restart;
- the BM25 index and the product vectors are saved per version and loaded, not rebuilt, while the version stands;
- the best candidates come from a partial selection that ranks exactly as a full sort would;
- the shopper's filters are applied to vector candidates outside Chroma, with the exact answer;
- the HNSW settings reach Chroma's collection configuration.
"""

import builtins
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from engine.catalogue.products import Product, load_catalogue
from engine.catalogue.records import CatalogueVersion, ContentVersion
from engine.catalogue.store import ProductStore
from engine.models.clip import VectorSpace
from engine.search import candidates as candidates_module
from engine.search.engine import RESULT_POOL, SearchEngine
from engine.search.lexical import LexicalIndex, top_k
from engine.service import ShopLens
from engine.settings import PROJECT_ROOT
from engine.types import Query, make_filters
from tests.conftest import wait_until, write_catalogue

SPACE = VectorSpace("test-model", 8)
COLOURS = ("red", "blue", "green", "black", "white")
CATEGORIES = ("shoes", "bags", "toys", "books")


def synthetic(count: int, seed: int = 0) -> list[Product]:
    """``count`` products with many equal ratings and prices, so ties are everywhere."""
    rng = np.random.default_rng(seed)
    return [
        Product(id=f"s{i:04d}", title=f"{COLOURS[i % 5]} {CATEGORIES[i % 4][:-1]} number {i}", category=CATEGORIES[i % 4],
                colour=COLOURS[i % 5], price=float(rng.integers(1, 40) * 5), rating=float(rng.integers(0, 11) / 2),
                description="plain words" if i % 3 else "special words", image=PROJECT_ROOT / "app.py")
        for i in range(count)
    ]  # fmt: skip


def unit_rows(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, SPACE.dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def stock(settings):
    """A store holding 600 synthetic products with random vectors."""
    store = ProductStore(settings, SPACE)
    products = synthetic(600)
    images, texts = unit_rows(600, 1), unit_rows(600, 2)
    store.upsert(products, images, texts, [ContentVersion(f"h{i}") for i in range(600)])
    return settings, store, products, images, texts


@pytest.fixture
def stocked(make_settings):
    return stock(make_settings(index_poll_seconds=0.05))


@pytest.fixture
def stocked_anywhere(store_settings):
    """:func:`stock` in embedded Chroma and on a Chroma server, in turn."""
    return stock(store_settings(index_poll_seconds=0.05))


def make_engine(settings, store) -> SearchEngine:
    return SearchEngine(settings, embedder=None, store=store, speech=None)


def index_changes(engine: SearchEngine) -> threading.Event:
    """Set each time ``engine`` has picked up another process's change (a search notices it)."""
    changed = threading.Event()
    engine.on_index_change.append(changed.set)
    return changed


# --- top-k ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_top_k_ranks_exactly_as_a_stable_full_sort(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 30, size=2000).astype(np.float32) / 3  # many ties
    for k in (0, 1, 7, 100, 1999, 2000, 5000):
        expected = np.argsort(-scores, kind="stable")[:k]
        np.testing.assert_array_equal(top_k(scores, k), expected)


def test_best_bm25_matches_are_the_top_of_the_full_ranking():
    index = LexicalIndex(synthetic(500))
    scores = index.score_array("red special shoe")
    ranked = sorted((pid for pid, s in zip(index.ids, scores) if s > 0), key=lambda pid: (-scores[index.position[pid]], pid))
    assert [pid for pid, _ in index.best("red special shoe", 40)] == ranked[:40]


def test_without_clip_a_vector_only_search_falls_back_to_the_words(make_settings):
    engine = SearchEngine(make_settings(), embedder=None, store=None, speech=None)
    engine.vectors = False  # words-only mode: CLIP could not be loaded
    engine.use_products(synthetic(300))
    words = engine.search(Query(text="red special shoe", mode="lexical"))
    vector = engine.search(Query(text="red special shoe", mode="vector"))
    assert vector.hits and [h.product.id for h in vector.hits] == [h.product.id for h in words.hits]


BLAS_CHECK = """
import json, sys, torch
from threadpoolctl import threadpool_info
from engine.service import ShopLens
from engine.search.engine import SearchEngine
from engine.settings import Settings

def blas():
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]

before, torch_threads = blas(), torch.get_num_threads()
settings = Settings(_env_file=None, data_dir=sys.argv[2])
if sys.argv[1] == "app":
    ShopLens(settings)
else:
    SearchEngine(settings, embedder=None, store=None, speech=None)
print(json.dumps({"before": before, "after": blas(), "torch": [torch_threads, torch.get_num_threads()]}))
"""


@pytest.mark.parametrize("built", ["app", "search engine"])
def test_the_app_and_its_search_engine_keep_numpys_blas_on_the_calling_thread_and_leave_torch_alone(built, tmp_path):
    """In a fresh process whose BLAS starts with a pool of two threads (the limit is set once per process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPLENS_")} | {"OPENBLAS_NUM_THREADS": "2"}
    run = subprocess.run([sys.executable, "-c", BLAS_CHECK, built.split()[0], str(tmp_path / "data")], env=env,
                         capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    if not seen["before"]:
        pytest.skip("threadpoolctl sees no BLAS library in this numpy build")
    assert set(seen["before"]) == {2} and set(seen["after"]) == {1}  # its threads would spin beside Chroma
    assert seen["torch"][0] == seen["torch"][1]


def test_a_filters_only_browse_never_sorts_the_catalogue(make_settings, monkeypatch):
    products = synthetic(1000)
    engine = SearchEngine(make_settings(), embedder=None, store=None, speech=None)
    engine.use_products(products)
    keys = {"relevance": lambda p: (-p.rating, p.id), "price_asc": lambda p: (p.price, p.id),
            "price_desc": lambda p: (-p.price, p.id)}  # fmt: skip
    red_or_blue = [p for p in products if p.colour in ("red", "blue")]
    expected = {sort: [p.id for p in sorted(red_or_blue, key=key)[:RESULT_POOL]] for sort, key in keys.items()}
    sizes: list[int] = []
    real_sorted, real_argsort = builtins.sorted, np.argsort

    def sorted_spy(items, *args, **kwargs):
        items = list(items)
        sizes.append(len(items))
        return real_sorted(items, *args, **kwargs)

    def argsort_spy(array, *args, **kwargs):
        sizes.append(len(array))
        return real_argsort(array, *args, **kwargs)

    monkeypatch.setattr(builtins, "sorted", sorted_spy)
    monkeypatch.setattr(np, "argsort", argsort_spy)
    results = {sort: engine.search(Query(filters=make_filters(colours=["red", "blue"]), sort=sort, k=100)) for sort in keys}
    monkeypatch.undo()
    assert len(red_or_blue) == 400 and sizes and max(sizes) <= RESULT_POOL
    for sort, result in results.items():
        assert result.browsed and [hit.product.id for hit in result.pool] == expected[sort]


# --- filters applied to the vector candidates ---------------------------------------------------------
@pytest.mark.parametrize("path", ["exact", "deeper", "among"])
def test_filtered_vector_candidates_are_the_exact_best_allowed(stocked, monkeypatch, path):
    settings, store, products, images, _ = stocked
    engine = make_engine(settings, store)
    snapshot = engine.refresh()
    limits = {"exact": (10_000, 0), "deeper": (0, 10_000), "among": (0, 0)}[path]  # (EXACT_LIMIT, FETCH_LIMIT)
    monkeypatch.setattr(candidates_module, "EXACT_LIMIT", limits[0])
    monkeypatch.setattr(candidates_module, "FETCH_LIMIT", limits[1])
    monkeypatch.setattr(candidates_module, "EXACT_FREE", 0)  # reading deeper is chosen whenever it is allowed
    monkeypatch.setattr(candidates_module, "EXACT_PER_NEIGHBOUR", 0)
    called = []
    real_query = store.query
    monkeypatch.setattr(store, "query", lambda *a, **kw: called.append(kw.get("among") is not None) or real_query(*a, **kw))
    keep = np.array([p.category == "toys" and p.price <= 120 for p in snapshot.products])
    vector = unit_rows(1, 9)[0]
    matches = engine.candidates.nearest(vector, "image", keep, snapshot)
    by_id = {p.id: i for i, p in enumerate(products)}
    allowed = [p.id for p, kept in zip(snapshot.products, keep) if kept]
    expected = sorted(allowed, key=lambda pid: -float(images[by_id[pid]] @ vector))[: candidates_module.CANDIDATES]
    assert [m.product_id for m in matches] == expected
    assert called == {"exact": [], "deeper": [False], "among": [True]}[path]


def test_when_too_few_neighbours_pass_the_filters_chroma_is_read_twice_as_deep_before_comparing_exactly(stocked,
                                                                                                        monkeypatch):  # fmt: skip
    settings, store, products, images, _ = stocked
    engine = make_engine(settings, store)
    snapshot = engine.refresh()
    monkeypatch.setattr(candidates_module, "OVERFETCH", 0.3)  # the first read cannot hold enough allowed products
    monkeypatch.setattr(candidates_module, "FETCH_LIMIT", 10_000)
    monkeypatch.setattr(candidates_module, "EXACT_FREE", 0)
    monkeypatch.setattr(candidates_module, "EXACT_PER_NEIGHBOUR", 0)
    depths, exact = [], []
    real_query, real_exact = store.query, candidates_module.CandidateGatherer._exact
    monkeypatch.setattr(store, "query", lambda vector, kind, n, **kw: depths.append(n) or real_query(vector, kind, n, **kw))
    monkeypatch.setattr(candidates_module.CandidateGatherer, "_exact", staticmethod(lambda *a: exact.append(1) or real_exact(*a)))
    keep = np.array([p.price <= 120 for p in snapshot.products])
    vector = unit_rows(1, 11)[0]
    matches = engine.candidates.nearest(vector, "text", keep, snapshot)
    assert len(depths) >= 2 and all(b == min(2 * a, len(keep)) for a, b in zip(depths, depths[1:])) and exact == []
    by_id = {p.id: i for i, p in enumerate(products)}
    allowed = [p.id for p, kept in zip(snapshot.products, keep) if kept]
    texts = stocked[4]
    assert [m.product_id for m in matches] == sorted(allowed, key=lambda pid: -float(texts[by_id[pid]] @ vector))[:100]


def test_with_the_shipped_costs_a_few_allowed_products_are_compared_exactly_without_chroma(stocked, monkeypatch):
    settings, store, products, images, _ = stocked
    engine = make_engine(settings, store)
    snapshot = engine.refresh()
    asked = []
    real_query = store.query
    monkeypatch.setattr(store, "query", lambda *a, **kw: asked.append(kw) or real_query(*a, **kw))
    keep = np.array([p.colour == "red" for p in snapshot.products])  # 120 of 600: below EXACT_FREE
    vector = unit_rows(1, 4)[0]
    matches = engine.candidates.nearest(vector, "image", keep, snapshot)
    by_id = {p.id: i for i, p in enumerate(products)}
    allowed = [p.id for p, kept in zip(snapshot.products, keep) if kept]
    assert [m.product_id for m in matches] == sorted(allowed, key=lambda pid: -float(images[by_id[pid]] @ vector))[:100]
    assert asked == []
    engine.candidates.nearest(vector, "image", None, snapshot)  # no filter: Chroma's nearest neighbours
    assert len(asked) == 1


def test_facet_counts_are_counted_once_per_filters_and_never_shared_for_writing(monkeypatch):
    from engine.search.facets import FACET_CACHE, FacetColumns
    from engine.types import Constraints

    columns = FacetColumns(synthetic(200))
    counted = []
    real_count = FacetColumns._count
    monkeypatch.setattr(FacetColumns, "_count", lambda self, *a: counted.append(a) or real_count(self, *a))
    first = columns.counts(Constraints())
    first["colour"]["red"] = -1  # a caller changing its copy
    again = columns.counts(Constraints())
    assert len(counted) == 1 and again["colour"]["red"] == 40 and sum(again["category"].values()) == 200
    stars = np.full(200, 4.5)
    assert columns.counts(Constraints(), review_stars=stars)["rating"]["4r"] == 200 and len(counted) == 2
    red = Constraints(own=make_filters(colours=["red"]))
    assert columns.counts(red)["category"] == {"shoes": 10, "bags": 10, "toys": 10, "books": 10} and len(counted) == 3
    assert columns.counts(Constraints(own=make_filters(colours=["red"])))["category"]["toys"] == 10 and len(counted) == 3
    within = np.arange(200) < 100  # the products a words-only search ranks: never cached
    assert sum(columns.counts(red, within)["category"].values()) == 20 and len(counted) == 4
    columns.counts(red, within)
    assert len(counted) == 5
    for n in range(FACET_CACHE + 1):  # bounded: the oldest combination is forgotten
        columns.counts(Constraints(own=make_filters(price_max=float(n + 1))))
    columns.counts(red)
    assert len(counted) == 5 + FACET_CACHE + 2


# --- the catalogue version and the saved BM25 ---------------------------------------------------------
def test_a_write_session_makes_the_version_odd_then_even(stocked_anywhere):
    settings, store, products, images, texts = stocked_anywhere
    start = store.catalogue_version()
    assert start.settled
    with store.writing():
        assert store.catalogue_version() == start  # nothing changed yet
        store.upsert(products[:1], images[:1], texts[:1], [ContentVersion("new")])
        store.delete(["s0001"])
        assert not store.catalogue_version().settled
    assert store.catalogue_version().number == start.number + 2 and store.catalogue_version().settled
    with store.writing():
        pass  # a session that changes nothing leaves the version alone
    assert store.catalogue_version().number == start.number + 2


def test_the_saved_products_bm25_and_vectors_are_loaded_while_the_version_stands_and_rebuilt_after_a_change(stocked,
                                                                                                          monkeypatch):  # fmt: skip
    settings, store, products, images, texts = stocked
    built, read, listed = [], [], []
    real_index = LexicalIndex._index
    monkeypatch.setattr(LexicalIndex, "_index", staticmethod(lambda items: built.append(len(items)) or real_index(items)))
    monkeypatch.setattr(ProductStore, "record_vectors", lambda self, records, real=ProductStore.record_vectors:
                        read.append(len(records)) or real(self, records))  # fmt: skip
    monkeypatch.setattr(ProductStore, "catalogue", lambda self, real=ProductStore.catalogue: listed.append(1) or real(self))
    first = make_engine(settings, store).refresh()
    assert built == [600] and sum(read) == 1200 and len(listed) == 1  # every product, both vectors of each
    saved = make_engine(settings, store).saved
    assert all(saved.folder(first.catalogue, part).is_dir() for part in ("v", "vectors-v", "products-v"))
    restarted = make_engine(settings, ProductStore(settings, SPACE)).refresh()  # a restart over the same index
    assert built == [600] and sum(read) == 1200 and len(listed) == 1 and restarted.catalogue == first.catalogue
    assert restarted.products == first.products  # the records as the store held them, in the same order
    np.testing.assert_array_equal(restarted.lexical.score_array("red special shoe"), first.lexical.score_array("red special shoe"))
    assert isinstance(restarted.lexical._retriever.scores["data"], np.memmap)
    position = restarted.lexical.position
    for product, image, text in zip(products, images, texts):
        np.testing.assert_allclose(restarted.vectors.vector(position[product.id], "image"), image, atol=1e-6)
        np.testing.assert_allclose(restarted.vectors.vector(position[product.id], "text"), text, atol=1e-6)
    moved = unit_rows(1, 7)
    store.upsert(products[:1], moved, texts[:1], [ContentVersion("changed")])  # the version moves on
    changed = make_engine(settings, store).refresh()  # read as the saved version plus the one product written
    assert built == [600, 600] and sum(read) == 1200 + 2 and len(listed) == 1
    assert changed.catalogue.number == first.catalogue.number + 2
    np.testing.assert_allclose(changed.vectors.vector(changed.lexical.position[products[0].id], "image"), moved[0], atol=1e-6)
    assert not any(saved.folder(first.catalogue, part).exists() for part in ("v", "vectors-v", "products-v"))
    assert all(saved.folder(changed.catalogue, part).is_dir() for part in ("v", "vectors-v", "products-v"))


def test_saved_products_stand_for_their_version_even_when_a_writer_starts_during_the_restart(stocked, monkeypatch):
    settings, store, products, *_ = stocked
    first = make_engine(settings, store).refresh()
    built, read = [], []
    real_index = LexicalIndex._index
    monkeypatch.setattr(LexicalIndex, "_index", staticmethod(lambda items: built.append(len(items)) or real_index(items)))
    monkeypatch.setattr(ProductStore, "record_vectors", lambda self, records, real=ProductStore.record_vectors:
                        read.append(len(records)) or real(self, records))  # fmt: skip
    moving = CatalogueVersion(first.catalogue.collection, first.catalogue.number + 1)  # a writer has begun
    real_version, asked = ProductStore.catalogue_version, []

    def version_then_a_writer(self):  # the first read (follow) sees the settled version, every later one the writer
        asked.append(1)
        return real_version(self) if len(asked) == 1 else moving

    engine = make_engine(settings, ProductStore(settings, SPACE))  # a restart
    monkeypatch.setattr(ProductStore, "catalogue_version", version_then_a_writer)
    restarted = engine.refresh()
    assert restarted.catalogue == first.catalogue and restarted.products == first.products
    assert built == [] and read == []  # BM25 and vectors loaded for that version too, not rebuilt mid-write


def test_saved_products_are_not_trusted_when_the_store_holds_a_different_number(stocked, monkeypatch):
    settings, store, products, *_ = stocked
    first = make_engine(settings, store).refresh()
    listed = []
    monkeypatch.setattr(ProductStore, "catalogue", lambda self, real=ProductStore.catalogue: listed.append(1) or real(self))
    monkeypatch.setattr(ProductStore, "catalogue_size", lambda self: len(first.products) - 1)  # replaced behind the marker
    restarted = make_engine(settings, ProductStore(settings, SPACE)).refresh()
    assert listed == [1] and restarted.products == first.products


def test_damaged_saved_products_are_read_again_from_the_store(stocked):
    settings, store, products, *_ = stocked
    first = make_engine(settings, store).refresh()
    saved = make_engine(settings, store).saved
    (saved.folder(first.catalogue, "products-v") / "products.json").write_text('[{"id": "half a rec', encoding="utf-8")
    restarted = make_engine(settings, ProductStore(settings, SPACE)).refresh()
    assert restarted.products == first.products and len(restarted) == 600
    assert saved.load_products(first.catalogue) == first.products  # read again, and saved again
    (saved.folder(first.catalogue, "products-v") / "format").write_text("0")  # an older format
    assert saved.load_products(first.catalogue) is None
    assert make_engine(settings, ProductStore(settings, SPACE)).refresh().products == first.products


def test_a_serving_engine_follows_a_version_bump_without_refresh(stocked_anywhere):
    settings, store, products, images, texts = stocked_anywhere
    engine = make_engine(settings, store)
    first = engine.snapshot
    writer = ProductStore(settings, SPACE)  # another writer's store
    new = synthetic(601)[600:]
    writer.upsert(new, unit_rows(1, 5), unit_rows(1, 6), [ContentVersion("n")])
    changed = index_changes(engine)
    latest = wait_until(lambda: engine.snapshot if "s0600" in engine.snapshot.by_id else None,
                        what="following the other writer's version", woken_by=changed)  # fmt: skip
    assert latest.version > first.version and latest.catalogue != first.catalogue and len(latest) == 601


def test_a_layout_1_index_is_read_as_it_is_and_moved_apart_by_the_first_write(make_settings, catalogue_path):
    settings = make_settings()
    products = load_catalogue(catalogue_path).products
    store = ProductStore(settings, SPACE)
    store._client.delete_collection(store.image_collection)  # what an index written before two collections looks like
    store._images = None
    images, texts = unit_rows(len(products), 1), unit_rows(len(products), 2)
    from engine.catalogue.records import record_id, record_metadata

    for kind, vectors in (("image", images), ("text", texts)):
        store._collection.upsert(ids=[record_id(p.id, kind) for p in products], embeddings=vectors,
                                 metadatas=[record_metadata(p, kind, ContentVersion("h")) for p in products],
                                 documents=[p.model_dump_json() for p in products])  # fmt: skip
    old = ProductStore(settings, SPACE)
    assert old._images is None and len(old.catalogue()) == len(products) and old.count() == len(products)
    assert old.query(images[3], "image", 1)[0].product_id == products[3].id
    old.delete([products[0].id])
    assert old._images.count() == old._collection.count() == len(products) - 1
    assert old.query(images[3], "image", 1)[0].product_id == products[3].id


# --- an app and the command-line indexer --------------------------------------------------------------
def test_a_serving_app_picks_up_what_the_command_line_indexer_wrote(make_settings, tmp_path, clip_config_dir):
    before = write_catalogue(tmp_path / "before", count=12)
    settings = make_settings(catalog=before, index_poll_seconds=0.2)
    shop = ShopLens(settings)
    shop.start(speech=False)
    first = shop.engine.snapshot
    assert len(first) == 12 and not (settings.data_dir / "writer.lock").read_text()  # serving holds no lock
    after = write_catalogue(tmp_path / "after", count=15)  # p012..p014 are new
    after.write_text("\n".join(line.replace('"Acme"', '"Zenith"') for line in after.read_text().splitlines()[3:]) + "\n")
    env = {**os.environ, "SHOPLENS_DATA_DIR": str(settings.data_dir), "SHOPLENS_CLIP_MODEL": "shoplens-tiny",
           "SHOPLENS_CLIP_PRETRAINED": "none", "SHOPLENS_CLIP_CONFIG_DIR": str(clip_config_dir)}  # fmt: skip
    command = [sys.executable, "-m", "engine.index", "--catalog", str(after), "--quiet"]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)
    assert run.returncode == 0 and "3 added, 9 updated, 3 removed" in run.stdout, run.stderr

    def searched_the_new_catalogue():
        result = shop.search(Query(text="zenith", k=20))
        return result if result.version > first.version else None

    result = wait_until(searched_the_new_catalogue, what="searching the CLI's catalogue",
                        woken_by=index_changes(shop.engine))  # fmt: skip
    assert len(shop.engine.snapshot) == 12 and {"p000", "p001", "p002"}.isdisjoint(shop.engine.snapshot.by_id)
    assert {hit.product.brand for hit in result.hits} == {"Zenith"}
    new_vector = shop.store.vectors(["p014"], "text")["p014"]  # its image is p006's and p010's twin; its title is its own
    assert shop.store.query(new_vector, "text", 1)[0].product_id == "p014"  # the app's vector index sees the new one
