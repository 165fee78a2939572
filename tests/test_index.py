import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engine.catalogue.indexer import Indexer
from engine.catalogue.products import load_catalogue
from engine.catalogue.store import ProductStore
from engine.models.clip import ClipEmbedder
from engine.service import ShopLens
from tests.conftest import draw_product, write_catalogue


def records(store: ProductStore) -> int:
    """Records in the store's two collections (a text and an image record per product)."""
    return store._collection.count() + store._images.count()


def build(settings):
    embedder = ClipEmbedder(settings)
    store = ProductStore(settings, embedder.space)
    return embedder, store, Indexer(settings, embedder, store)


_open_listeners: list[list[Path]] = []


def _on_audit(event: str, args: tuple) -> None:
    if event == "open" and _open_listeners and isinstance(args[0], str | bytes | os.PathLike):
        for listener in _open_listeners:
            listener.append(Path(os.fsdecode(args[0])))


@pytest.fixture(scope="session")
def _audit_hook() -> None:
    sys.addaudithook(_on_audit)  # audit hooks cannot be removed: one for the session, idle without listeners


@pytest.fixture
def opened(_audit_hook) -> Iterator[list[Path]]:
    """Every file Python opens while the test runs, in any thread (the ``open`` audit event)."""
    paths: list[Path] = []
    _open_listeners.append(paths)
    yield paths
    _open_listeners.remove(paths)


def images_in(paths: list[Path], catalogue_path: Path) -> list[str]:
    folder = catalogue_path.parent / "images"
    return sorted(path.name for path in paths if path.parent == folder)


def test_second_index_of_the_same_catalogue_embeds_nothing(store_settings, catalogue_path):
    embedder, store, indexer = build(store_settings())
    first = indexer.sync(load_catalogue(catalogue_path), progress=False)
    assert (first.added, first.updated, first.removed, first.unchanged) == (12, 0, 0, 0)
    assert embedder.calls == 6  # 3 batches of 4, images and texts
    embedder.calls = 0
    second = indexer.sync(load_catalogue(catalogue_path), progress=False)
    assert (second.added, second.updated, second.unchanged, embedder.calls) == (0, 0, 12, 0)
    assert store.count() == 12 and records(store) == 24


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
    real_embed_pixels = embedder.embed_pixels
    batches = {"seen": 0}

    def interrupted_after_two_batches(pixels):
        batches["seen"] += 1
        if batches["seen"] == 3:
            raise KeyboardInterrupt  # what Ctrl-C does mid-run
        return real_embed_pixels(pixels)

    embedder.embed_pixels = interrupted_after_two_batches
    with pytest.raises(KeyboardInterrupt):
        indexer.sync(load_catalogue(catalogue_path), progress=False)
    assert store.count() == 8 and records(store) == 16  # two whole batches, nothing half-written

    embedder2, store2, indexer2 = build(settings)  # a fresh process after the interruption
    report = indexer2.sync(load_catalogue(catalogue_path), progress=False)
    assert (report.added, report.unchanged) == (4, 8)
    assert embedder2.calls == 2
    assert store2.count() == 12 and records(store2) == 24


def test_half_written_product_is_repaired(make_settings, catalogue_path):
    embedder, store, indexer = build(make_settings())
    indexer.sync(load_catalogue(catalogue_path), progress=False)
    store._collection.delete(ids=["p005#text"])  # e.g. a crash in an older version or a manual edit
    assert "p005" not in store.versions() and "p005" in store.stored_product_ids()
    report = indexer.sync(load_catalogue(catalogue_path), progress=False)
    assert (report.updated, report.added) == (1, 0) and records(store) == 24


def test_unchanged_catalogue_is_re_indexed_without_opening_an_image(store_settings, catalogue_path, opened):
    embedder, store, indexer = build(store_settings())
    indexer.sync(load_catalogue(catalogue_path), progress=False)
    assert len(images_in(opened, catalogue_path)) == 24  # each image read twice: hashed, then decoded
    opened.clear()
    embedder.calls = 0
    report = indexer.sync(load_catalogue(catalogue_path), progress=False)
    assert (report.unchanged, embedder.calls) == (12, 0)
    assert images_in(opened, catalogue_path) == []


def test_touched_but_identical_image_is_hashed_again_not_re_embedded(store_settings, catalogue_path, opened):
    embedder, store, indexer = build(store_settings())
    indexer.sync(load_catalogue(catalogue_path), progress=False)
    image = catalogue_path.parent / "images" / "p003.png"
    stat = image.stat()
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # `touch`: same bytes, new mtime
    opened.clear()
    embedder.calls = 0
    report = indexer.sync(load_catalogue(catalogue_path), progress=False)
    assert (report.unchanged, report.updated, embedder.calls) == (12, 0, 0)
    assert images_in(opened, catalogue_path) == ["p003.png"]  # read to hash it, not decoded
    assert store.versions()["p003"].image.mtime_ns == stat.st_mtime_ns + 5_000_000_000
    opened.clear()
    indexer.sync(load_catalogue(catalogue_path), progress=False)
    assert images_in(opened, catalogue_path) == []  # the new stamp was kept


def test_changed_image_is_re_embedded_with_its_new_stamp(make_settings, catalogue_path, opened):
    embedder, store, indexer = build(make_settings())
    indexer.sync(load_catalogue(catalogue_path), progress=False)
    image = catalogue_path.parent / "images" / "p004.png"
    before = store.vectors(["p004"], "image")["p004"]
    draw_product(image, "black", "circle")
    opened.clear()
    embedder.calls = 0
    report = indexer.sync(load_catalogue(catalogue_path), progress=False)
    assert (report.updated, report.unchanged, embedder.calls) == (1, 11, 2)
    assert images_in(opened, catalogue_path) == ["p004.png", "p004.png"]  # hashed, then decoded
    assert store.versions()["p004"].image.size == image.stat().st_size
    assert not np.allclose(store.vectors(["p004"], "image")["p004"], before)


def test_next_batch_is_decoded_in_threads_while_the_model_embeds(make_settings, catalogue_path):
    embedder, store, indexer = build(make_settings(batch_size=4))
    real_preprocess, real_embed_pixels = embedder.preprocess, embedder.embed_pixels
    lock, prepared, threads = threading.Lock(), [], set()
    next_batch_started, waited = threading.Event(), []

    def preprocess(image):
        with lock:
            prepared.append(image)
            threads.add(threading.current_thread().name)
            if len(prepared) > 4:
                next_batch_started.set()
        return real_preprocess(image)

    def embed_pixels(pixels):
        if not waited:  # the first batch waits at the model until the second one is being prepared
            waited.append(next_batch_started.wait(timeout=60))
        return real_embed_pixels(pixels)

    embedder.preprocess, embedder.embed_pixels = preprocess, embed_pixels
    report = indexer.sync(load_catalogue(catalogue_path), progress=False)
    assert waited == [True] and report.added == 12 and len(prepared) == 12
    assert threads and all(name.startswith("shoplens-images") for name in threads)


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
