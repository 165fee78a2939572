"""A serving app that sees a new index version reads only the products written since its snapshot (issue #10).

Each record carries the number of the write session that wrote it, and the collection says from which
version on every write was numbered. These tests change the index the ways a shop owner and the
software do (edit, add, delete, a writer that does not number its records, a deletion cut short) and
check that the snapshot the app catches up to is exactly what reading the whole index gives, and that
it read only what it had to.
"""

import numpy as np
import pytest

from engine.catalogue.records import CatalogueVersion, ContentVersion, record_id
from engine.catalogue.store import ProductStore
from engine.catalogue.versions import NUMBERED_TO, VERSION_KEY
from engine.search.snapshot import Snapshot
from engine.types import KINDS, Query
from tests.test_scale import SPACE, make_engine, stock, synthetic, unit_rows

READ_WHOLE, READ_VECTORS = ProductStore.catalogue, ProductStore.record_vectors  # unobserved, for the truth


@pytest.fixture
def serving(store_settings, monkeypatch):
    """A store of 600 products, an engine serving its snapshot, and what the engine reads from the store after."""
    settings, store, products, images, texts = stock(store_settings(index_poll_seconds=0))
    engine = make_engine(settings, store)
    engine.refresh()
    reads = {"vectors": [], "whole": 0}

    def record_vectors(self, records):
        reads["vectors"].extend(records)
        return READ_VECTORS(self, records)

    def catalogue(self):
        reads["whole"] += 1
        return READ_WHOLE(self)

    monkeypatch.setattr(ProductStore, "record_vectors", record_vectors)
    monkeypatch.setattr(ProductStore, "catalogue", catalogue)
    return settings, engine, products, reads


def read_products(reads) -> set[str]:
    return {pid for pid, _ in reads["vectors"]}


def assert_matches_the_whole_index(snapshot: Snapshot, settings) -> None:
    """The snapshot holds exactly what a fresh read of every record gives: products, and both vectors of each."""
    store = ProductStore(settings, SPACE)
    truth = READ_WHOLE(store)
    assert snapshot.products == truth and snapshot.exact
    stored = READ_VECTORS(store, [(p.id, kind) for p in truth for kind in KINDS])
    for position, product in enumerate(snapshot.products):
        for kind in KINDS:
            held, expected = snapshot.vectors.vector(position, kind), stored.get((product.id, kind))
            assert (held is None) == (expected is None), (product.id, kind)
            if expected is not None:
                np.testing.assert_allclose(held, expected, atol=1e-6)


def test_a_new_version_is_read_as_the_products_written_since_the_snapshot(serving):
    settings, engine, products, reads = serving
    first = engine.snapshot
    writer = ProductStore(settings, SPACE)  # the command-line indexer's store, beside the app's
    edited = products[7].model_copy(update={"title": "velvet lantern"})
    added = synthetic(601)[600]
    writer.upsert([edited, added], unit_rows(2, 40), unit_rows(2, 41), [ContentVersion("e"), ContentVersion("a")])
    writer.delete([products[9].id])

    caught_up = engine.refresh()
    assert reads["whole"] == 0 and read_products(reads) == {edited.id, added.id}  # not the other 598
    assert caught_up.catalogue == writer.catalogue_version() and len(caught_up) == 600
    assert_matches_the_whole_index(caught_up, settings)
    hits = engine.search(Query(text="velvet lantern", mode="lexical")).hits
    assert hits[0].product.id == edited.id and products[9].id not in caught_up.by_id
    assert first.by_id[edited.id].title != "velvet lantern"  # the snapshot searches held keeps its catalogue

    # and again, from the snapshot it caught up to; a restart then loads what was saved for that version
    writer.upsert(products[20:23], unit_rows(3, 50), unit_rows(3, 51), [ContentVersion("b")] * 3)
    reads["vectors"].clear()
    again = engine.refresh()
    assert reads["whole"] == 0 and read_products(reads) == {p.id for p in products[20:23]}
    assert_matches_the_whole_index(again, settings)
    reads["vectors"].clear()
    restarted = make_engine(settings, ProductStore(settings, SPACE)).refresh()
    assert reads == {"vectors": [], "whole": 0} and restarted.products == again.products


def test_an_app_restarted_after_another_process_changed_the_index_reads_only_those_changes(serving):
    settings, engine, products, reads = serving  # the app served version S, saved it, and stopped
    writer = ProductStore(settings, SPACE)  # the command-line indexer, while the app is down
    writer.upsert(products[30:32], unit_rows(2, 80), unit_rows(2, 81), [ContentVersion("r")] * 2)
    writer.delete([products[33].id])
    restarted = make_engine(settings, ProductStore(settings, SPACE)).refresh()
    assert reads["whole"] == 0 and read_products(reads) == {products[30].id, products[31].id}
    assert restarted.catalogue == writer.catalogue_version() and len(restarted) == 599
    assert_matches_the_whole_index(restarted, settings)


def test_a_writer_that_does_not_number_its_records_makes_the_next_read_whole(serving):
    settings, engine, products, reads = serving
    old = ProductStore(settings, SPACE)  # what an older ShopLens writes: records unnumbered, the version moved on
    moved = unit_rows(1, 60)
    old._images.upsert(ids=[record_id(products[3].id, "image")], embeddings=moved,
                       metadatas=[{"product_id": products[3].id, "kind": "image", "hash": "x"}])  # fmt: skip
    metadata = dict(old._collection.metadata)
    old._collection.modify(metadata={**metadata, VERSION_KEY: metadata[VERSION_KEY] + 2})
    assert old.changes_since(engine.snapshot.catalogue) is None

    whole = engine.refresh()
    assert reads["whole"] == 1
    np.testing.assert_allclose(whole.vectors.vector(whole.lexical.position[products[3].id], "image"), moved[0], atol=1e-6)
    assert_matches_the_whole_index(whole, settings)

    writer = ProductStore(settings, SPACE)  # the next numbering writer starts the chain again
    writer.upsert(products[4:5], unit_rows(1, 61), unit_rows(1, 62), [ContentVersion("c")])
    metadata = writer._collection.metadata
    assert metadata[NUMBERED_TO] == metadata[VERSION_KEY]
    reads["vectors"].clear()
    caught_up = engine.refresh()
    assert reads["whole"] == 1 and read_products(reads) == {products[4].id}
    assert_matches_the_whole_index(caught_up, settings)


def test_a_deletion_cut_short_is_not_taken_for_an_unchanged_product(serving):
    settings, engine, products, reads = serving
    killed = ProductStore(settings, SPACE)  # a writer killed after an image record went, before its text record
    killed._move_version(settled=False)
    killed._images.delete(ids=[record_id(products[5].id, "image")])
    assert not engine.refresh().exact  # a version a writer holds is read as it is, and trusted for nothing after
    with ProductStore(settings, SPACE).writing():  # the next writer settles what the killed one left
        pass
    reads["whole"] = 0
    snapshot = engine.refresh()
    assert reads["whole"] == 1  # the counts did not add up, so the index was read whole
    assert snapshot.vectors.vector(snapshot.lexical.position[products[5].id], "image") is None
    assert_matches_the_whole_index(snapshot, settings)


def test_when_most_products_changed_the_index_is_read_whole(serving):
    settings, engine, products, reads = serving
    writer = ProductStore(settings, SPACE)
    writer.upsert(products[:400], unit_rows(400, 70), unit_rows(400, 71), [ContentVersion("all")] * 400)
    assert len(writer.changes_since(engine.snapshot.catalogue).written) == 400
    assert_matches_the_whole_index(engine.refresh(), settings)
    assert reads["whole"] == 1


def test_a_writer_racing_another_on_a_shared_server_makes_the_next_read_whole(serving):
    """Two write sessions overlap (two data folders writing one Chroma server): the first one's later records
    are numbered below the version the second settled, so the chain restarts and nothing is missed."""
    settings, engine, products, reads = serving
    first, second = ProductStore(settings, SPACE), ProductStore(settings, SPACE)
    with first.writing():
        first.upsert(products[40:41], unit_rows(1, 90), unit_rows(1, 91), [ContentVersion("f1")])
        second.upsert(products[41:42], unit_rows(1, 92), unit_rows(1, 93), [ContentVersion("s")])  # settles
        caught_up = engine.refresh()
        assert_matches_the_whole_index(caught_up, settings)
        late = unit_rows(1, 94)
        first.upsert(products[42:43], late, unit_rows(1, 95), [ContentVersion("f2")])  # numbered below the settled one
    latest = engine.refresh()
    np.testing.assert_allclose(latest.vectors.vector(latest.lexical.position[products[42].id], "image"), late[0], atol=1e-6)
    assert_matches_the_whole_index(latest, settings)


def test_a_writer_that_begins_while_the_changes_are_read_makes_the_read_whole(serving, monkeypatch):
    settings, engine, products, reads = serving
    writer = ProductStore(settings, SPACE)
    writer.upsert(products[50:51], unit_rows(1, 96), unit_rows(1, 97), [ContentVersion("w")])
    real = ProductStore.record_vectors

    def a_writer_begins(self, records):
        found = real(self, records)
        monkeypatch.setattr(ProductStore, "catalogue_version", lambda store: CatalogueVersion(now.collection, now.number + 1))
        return found

    now = writer.catalogue_version()
    monkeypatch.setattr(ProductStore, "record_vectors", a_writer_begins)
    snapshot = engine.refresh()
    assert reads["whole"] == 1 and not snapshot.exact  # read whole, and not trusted as a base for the next version


def test_an_index_restored_from_an_older_copy_is_not_read_as_changes(serving):
    settings, engine, products, reads = serving
    held = engine.snapshot.catalogue
    store = ProductStore(settings, SPACE)
    assert store.changes_since(held) is not None  # the same version: nothing written since
    later = CatalogueVersion(held.collection, held.number + 2)  # what a snapshot taken before the restore holds
    assert store.changes_since(later) is None


def test_a_write_cut_short_cannot_hide_a_deletion_cut_short(serving):
    """A killed writer left a new product's image record without its text record, and another killed writer an
    existing product's text record without its image record: the image records still number as many as
    before, but they are not the same records."""
    settings, engine, products, reads = serving
    killed = ProductStore(settings, SPACE)
    with killed.writing():
        killed._changing()
        new = synthetic(601)[600]
        killed._images.upsert(ids=[record_id(new.id, "image")], embeddings=unit_rows(1, 98),
                              metadatas=[{"product_id": new.id, "kind": "image", "hash": "n"} | killed._written_at()])  # fmt: skip
        killed._images.delete(ids=[record_id(products[6].id, "image")])
    snapshot = engine.refresh()
    assert reads["whole"] == 1
    assert snapshot.vectors.vector(snapshot.lexical.position[products[6].id], "image") is None
    assert_matches_the_whole_index(snapshot, settings)
