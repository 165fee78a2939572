"""Many shoppers at once while the catalogue changes underneath: no errors, no mixed catalogues."""

import threading

from engine.catalogue.products import load_catalogue
from engine.service import ShopLens
from engine.types import Query, make_filters
from tests.conftest import write_catalogue

SHOPPERS = 8
QUERIES = ["red", "blue shoe", "toy under $60", "bag", "绿色", "", "green square"]


def test_searches_during_a_reindex_see_one_consistent_snapshot(make_settings, tmp_path):
    first = write_catalogue(tmp_path / "before", count=40)
    shop = ShopLens(make_settings(catalog=first, batch_size=4))
    shop.start(speech=False)
    seen: dict[int, set[str]] = {shop.engine.snapshot.version: set(shop.engine.snapshot.by_id)}
    refresh = shop.engine.refresh

    def remembering_refresh():
        snapshot = refresh()
        seen[snapshot.version] = set(snapshot.by_id)
        return snapshot

    shop.engine.refresh = remembering_refresh
    changed = write_catalogue(tmp_path / "after", count=40)  # same ids p000..p039, other prices and words
    lines = changed.read_text().splitlines()
    changed.write_text("\n".join(line.replace('"Acme"', '"Zenith"') for line in lines[:25]) + "\n")  # 15 removed
    results, errors, swapped = [], [], threading.Event()

    def shopper(number: int) -> None:
        i, after_swap = number, 0
        while after_swap < 2:  # search until the new catalogue is in, then twice more
            after_swap += swapped.is_set()
            query = Query(text=QUERIES[i % len(QUERIES)], k=10, filters=make_filters(price_max=300) if i % 2 else make_filters())
            try:
                results.append(shop.search(query))
            except Exception as error:  # noqa: BLE001 - the test reports every failure
                errors.append(error)
            i += 1

    threads = [threading.Thread(target=shopper, args=(n,)) for n in range(SHOPPERS)]
    for thread in threads:
        thread.start()
    report = shop.indexer.sync(load_catalogue(changed), progress=False)
    shop.engine.refresh()
    swapped.set()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    assert report.removed == 15 and report.updated == 25
    versions = {result.version for result in results}
    assert len(versions) >= 2  # searches ran both before and after the swap
    for result in results:
        assert {hit.product.id for hit in result.pool} <= seen[result.version]
        brands = {hit.product.brand for hit in result.pool}
        assert len(brands) <= 1, "a result mixed two catalogue versions"


def test_a_reader_building_a_snapshot_does_not_wait_for_a_writer_session(make_settings, catalogue_path):
    """The app indexes on a thread (holding the store for its session) and refreshes the snapshot as it
    goes, while a page request builds one: neither may wait for the other (this deadlocked once)."""
    import threading

    from engine.service import ShopLens

    shop = ShopLens(make_settings(catalog=catalogue_path))
    shop.start(speech=False)
    done = threading.Event()
    with shop.store.writing():  # a writer's session, as the indexer holds it
        reader = threading.Thread(target=lambda: (shop.engine.refresh(), done.set()), daemon=True)
        reader.start()
        reader.join(timeout=20)
        assert done.is_set(), "building a snapshot waited for the writer's session"
    assert len(shop.engine.snapshot) > 0
