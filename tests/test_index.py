import json
import subprocess
import sys

import pytest

from engine.catalogue.indexer import Indexer
from engine.catalogue.products import load_catalogue
from engine.catalogue.store import ProductStore
from engine.models.clip import ClipEmbedder
from engine.service import ShopLens
from tests.conftest import draw_product, write_catalogue


def build(settings):
    embedder = ClipEmbedder(settings)
    store = ProductStore(settings, embedder.space)
    return embedder, store, Indexer(settings, embedder, store)


def test_second_index_of_the_same_catalogue_embeds_nothing(store_settings, catalogue_path):
    embedder, store, indexer = build(store_settings())
    first = indexer.sync(load_catalogue(catalogue_path), progress=False)
    assert (first.added, first.updated, first.removed, first.unchanged) == (12, 0, 0, 0)
    assert embedder.calls == 6  # 3 batches of 4, images and texts
    embedder.calls = 0
    second = indexer.sync(load_catalogue(catalogue_path), progress=False)
    assert (second.added, second.updated, second.unchanged, embedder.calls) == (0, 0, 12, 0)
    assert store.count() == 12 and store._collection.count() == 24


def test_changed_rows_and_images_are_re_embedded_and_removed_products_deleted(make_settings, catalogue_path):
    embedder, store, indexer = build(make_settings())
    indexer.sync(load_catalogue(catalogue_path), progress=False)
    rows = [json.loads(line) for line in catalogue_path.read_text().splitlines()]
    rows[0]["price"] = 999.0
    draw_product(catalogue_path.parent / rows[1]["image"], "green", "circle")
    del rows[2]
    catalogue_path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    embedder.calls = 0
    report = indexer.sync(load_catalogue(catalogue_path), progress=False)
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 2, 1, 9)
    assert embedder.calls == 2
    assert store.products(["p000"])["p000"].price == 999.0
    assert "p002" not in store.stored_product_ids() and store.count() == 11


def test_interrupted_index_resumes_without_losing_or_duplicating(store_settings, catalogue_path):
    settings = store_settings()
    embedder, store, indexer = build(settings)
    real_embed_images = embedder.embed_images
    batches = {"seen": 0}

    def interrupted_after_two_batches(images):
        batches["seen"] += 1
        if batches["seen"] == 3:
            raise KeyboardInterrupt  # what Ctrl-C does mid-run
        return real_embed_images(images)

    embedder.embed_images = interrupted_after_two_batches
    with pytest.raises(KeyboardInterrupt):
        indexer.sync(load_catalogue(catalogue_path), progress=False)
    assert store.count() == 8 and store._collection.count() == 16  # two whole batches, nothing half-written

    embedder2, store2, indexer2 = build(settings)  # a fresh process after the interruption
    report = indexer2.sync(load_catalogue(catalogue_path), progress=False)
    assert (report.added, report.unchanged) == (4, 8)
    assert embedder2.calls == 2
    assert store2.count() == 12 and store2._collection.count() == 24


def test_half_written_product_is_repaired(make_settings, catalogue_path):
    embedder, store, indexer = build(make_settings())
    indexer.sync(load_catalogue(catalogue_path), progress=False)
    store._collection.delete(ids=["p005#text"])  # e.g. a crash in an older version or a manual edit
    assert "p005" not in store.indexed_hashes() and "p005" in store.stored_product_ids()
    report = indexer.sync(load_catalogue(catalogue_path), progress=False)
    assert (report.updated, report.added) == (1, 0) and store._collection.count() == 24


def test_bad_images_are_skipped_and_reported_not_fatal(make_settings, tmp_path):
    path = write_catalogue(tmp_path / "shop", count=4)
    (tmp_path / "shop" / "images" / "p001.png").write_bytes(b"garbage")
    embedder, store, indexer = build(make_settings())
    report = indexer.sync(load_catalogue(path), progress=False)
    assert report.added == 3 and [p.product_id for p in report.skipped] == ["p001"]
    assert "not an image" in report.skipped[0].reason and store.count() == 3


def test_restart_reuses_the_index_without_re_embedding(store_settings, catalogue_path):
    settings = store_settings(catalog=catalogue_path)
    first = ShopLens(settings)
    assert first.start(speech=False).added == 12
    restarted = ShopLens(settings)
    report = restarted.start(speech=False)
    assert (report.added, report.updated, report.unchanged) == (0, 0, 12)
    assert restarted.embedder.calls == 2  # the warm-up only: one text and one image pass


def test_command_line_indexer(make_settings, catalogue_path, clip_config_dir, tmp_path):
    env = {"SHOPLENS_DATA_DIR": str(tmp_path / "cli-data"), "SHOPLENS_CLIP_MODEL": "shoplens-tiny",
           "SHOPLENS_CLIP_PRETRAINED": "none", "SHOPLENS_CLIP_CONFIG_DIR": str(clip_config_dir), "PATH": "/usr/bin:/bin"}  # fmt: skip
    command = [sys.executable, "-m", "engine.index", "--catalog", str(catalogue_path), "--quiet"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "12 added, 0 updated, 0 removed, 0 unchanged, 0 skipped" in first.stdout
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert "0 added, 0 updated, 0 removed, 12 unchanged" in again.stdout
    other_model = subprocess.run(command, env={**env, "SHOPLENS_CLIP_MODEL": "shoplens-tiny-wide"},
                                 capture_output=True, text=True, timeout=300)  # fmt: skip
    assert other_model.returncode == 2 and "error: The index" in other_model.stderr and "--rebuild" in other_model.stderr
    assert "Traceback" not in other_model.stderr
    rebuilt = subprocess.run([*command, "--rebuild"], env={**env, "SHOPLENS_CLIP_MODEL": "shoplens-tiny-wide"},
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert rebuilt.returncode == 0 and "12 added" in rebuilt.stdout
