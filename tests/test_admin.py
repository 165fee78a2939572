"""'Your catalogue': a shop owner uploads a CSV plus a zip of images, reads the check, serves it, restores the demo.

Two levels, each a sequence the way a shop owner works:

- the service (:meth:`ShopLens.receive_catalogue`, :meth:`ShopLens.serve_catalogue`, restore with
  ``None``), with the tiny random CLIP: rankings mean nothing, so "found" means "among the hits",
  and "no longer found" means "no hit outside the served catalogue";
- the page (``demo/admin_ui.py``) in a real headless Chromium: the section only exists with
  ``SHOPLENS_ADMIN_TOKEN``, every action asks for the token, the check's report, live progress in
  the banner and the section's progress bar, then search on the same page, hostile zips and "Restore the demo catalogue".

Indexing is paused at each progress step (``ProgressGate``) so the test sees the banner move without
timing anything. A screenshot of the section after a good upload is left at ``/tmp/admin.png``.
"""

from __future__ import annotations

import os
import queue
import re
import tempfile
import threading
from pathlib import Path

import pytest

from engine.catalogue.products import load_catalogue
from engine.errors import InvalidInputError, ModelUnavailableError
from engine.service import UPLOADS, ShopLens
from engine.settings import BUNDLED_CATALOGUE
from engine.types import Query
from tests.app_server import running_app
from tests.browser_page import open_page, search, settle, titles
from tests.conftest import wait_until, write_catalogue
from tests.test_uploads import make_zip, picture

TOKEN = "owner-secret-4821"
NEW = {"k1": "Copper kettle", "k2": "Linen apron", "k3": "Walnut chopping board"}
BAD_LINE = "line 5 (ghost): image not found: images/ghost.png"
SCREENSHOT = Path(tempfile.gettempdir()) / "admin.png"
WAIT_S = 90.0


@pytest.fixture(autouse=True, scope="module")
def no_caller_settings():
    """The caller's SHOPLENS_* variables (an admin token, say) must not change what these tests see."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("SHOPLENS_")]:
            patch.delenv(name)
        yield


# --- what a shop owner uploads ---------------------------------------------------------------------
def owner_files(folder: Path) -> tuple[Path, Path]:
    """``products.csv`` (three good rows, then one whose image is not in the zip) and ``images.zip``."""
    folder.mkdir(parents=True, exist_ok=True)
    colours = dict(zip(NEW, ["orange", "beige", "brown"]))
    images = make_zip(folder / "images.zip", {f"images/{pid}.png": picture(colour) for pid, colour in colours.items()})
    rows = ["id,title,description,category,price,colour,image"]
    rows += [f"{pid},{title},A {title.lower()},kitchen,{20 + i},{colours[pid]},images/{pid}.png"
             for i, (pid, title) in enumerate(NEW.items())]  # fmt: skip
    rows.append("ghost,Ghost teapot,No picture,kitchen,12,white,images/ghost.png")  # line 5: image not in the zip
    catalogue = folder / "products.csv"
    catalogue.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return catalogue, images


def zip_slip(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return make_zip(folder / "slip.zip", {"images/k1.png": picture(), "../../escape.png": picture()})


def titles_of(catalogue: Path) -> dict[str, str]:
    return {product.id: product.title for product in load_catalogue(catalogue).products}


class ProgressGate:
    """Holds the shop's background indexing at each progress step until the test lets it go on."""

    def __init__(self, shop: ShopLens) -> None:
        self.shop, self.steps, self.go, self.opened = shop, queue.Queue(), threading.Semaphore(0), False

    def __enter__(self) -> ProgressGate:
        original = self.shop._progress

        def step(done: int, total: int) -> None:
            original(done, total)
            if not self.opened:
                self.steps.put((done, total))
                self.go.acquire(timeout=WAIT_S)

        self.shop._progress = step
        return self

    def __exit__(self, *exc) -> None:
        del self.shop._progress
        self.opened = True
        self.go.release(100)

    def reached(self) -> tuple[int, int]:
        """The next progress step indexing stopped at."""
        return self.steps.get(timeout=WAIT_S)

    def let_go(self) -> None:
        self.go.release()


def catalogue_work_done() -> bool:
    return not any(thread.name == "shoplens-catalogue" for thread in threading.enumerate())


# --- the service -----------------------------------------------------------------------------------
@pytest.fixture
def shop(make_settings, tmp_path, shared_speech):
    """A started shop serving its own 'bundled' catalogue; uploads arrive in ``tmp_path / 'incoming'``."""
    bundled = write_catalogue(tmp_path / "bundled", count=6)
    shop = ShopLens(make_settings(catalog=bundled, admin_token=None))
    shop.speech = shared_speech
    shop.allow_uploads_from(tmp_path / "incoming")
    shop.start(speech=False)
    yield shop
    shop.stop()


def found(shop: ShopLens, words: str) -> set[str]:
    return {hit.product.id for hit in shop.search(Query(text=words, k=5)).hits}


def serving(shop: ShopLens, catalogue: dict[str, str]) -> bool:
    """Indexing is over, each product is found by its title, and nothing outside ``catalogue`` is found."""
    if not shop.status().ready:
        return False
    return all(pid in (hits := found(shop, title)) and hits <= catalogue.keys() for pid, title in catalogue.items())


def test_an_upload_is_checked_served_and_the_demo_restored(shop, tmp_path):
    bundled = titles_of(shop.settings.catalog)
    assert serving(shop, bundled)
    upload = shop.receive_catalogue(*owner_files(tmp_path / "incoming"))
    assert [product.id for product in upload.catalogue.products] == list(NEW)  # nothing from the bad row
    assert upload.report() == ["3 products ready, 3 images unpacked.", f"Not indexed: {BAD_LINE}"]
    assert serving(shop, bundled), "checking an upload must not change what is served"

    shop.serve_catalogue(upload.catalogue.path)
    wait_until(lambda: serving(shop, NEW), what="the uploaded catalogue served instead of the bundled one")
    assert shop.product_count() == 3 and shop.product("ghost") is None
    assert ShopLens(shop.settings).catalogue_path == upload.catalogue.path  # a restart serves it too

    shop.serve_catalogue(None)
    wait_until(lambda: serving(shop, bundled), what="the bundled catalogue served again")
    assert ShopLens(shop.settings).catalogue_path == shop.settings.catalog


def test_a_zip_slip_is_refused_and_the_shop_keeps_serving_what_it_had(shop, tmp_path):
    bundled = titles_of(shop.settings.catalog)
    catalogue, _ = owner_files(tmp_path / "incoming")
    with pytest.raises(InvalidInputError, match=r"path outside its folder \(\.\./\.\./escape\.png\); it was refused"):
        shop.receive_catalogue(catalogue, zip_slip(tmp_path / "incoming"))
    uploads = shop.settings.data_dir / UPLOADS
    assert not list(uploads.rglob("*.png")) and not list(tmp_path.rglob("escape.png"))
    assert shop.catalogue_path == shop.settings.catalog and serving(shop, bundled)


def test_only_files_from_the_upload_folder_are_received(shop, tmp_path):
    catalogue, images = owner_files(tmp_path / "elsewhere")
    with pytest.raises(InvalidInputError, match="did not come from an upload"):
        shop.receive_catalogue(catalogue, images)
    assert not (shop.settings.data_dir / UPLOADS).exists()


def test_restoring_while_an_upload_indexes_still_restores(shop, tmp_path):
    bundled = titles_of(shop.settings.catalog)
    upload = shop.receive_catalogue(*owner_files(tmp_path / "incoming"))
    with ProgressGate(shop) as gate:
        shop.serve_catalogue(upload.catalogue.path)
        assert gate.reached() == (0, 3)
        shop.serve_catalogue(None)  # the owner changes their mind
    wait_until(lambda: shop.status().ready and catalogue_work_done(), what="both catalogue changes finished")
    assert shop.catalogue_path == shop.settings.catalog  # what a restart would serve...
    assert serving(shop, bundled), "...and what is served now"


def test_in_words_only_mode_an_upload_is_served_by_its_words(make_settings, tmp_path, shared_speech):
    shop = ShopLens(make_settings(catalog=write_catalogue(tmp_path / "bundled", count=6), admin_token=None))
    shop.speech = shared_speech
    shop.embedder.warm_up = no_clip  # as when the weights cannot be downloaded (SHOPLENS_OFFLINE=auto)
    shop.allow_uploads_from(tmp_path / "incoming")
    shop.start(speech=False)
    assert not shop.status().photo
    upload = shop.receive_catalogue(*owner_files(tmp_path / "incoming"))
    shop.serve_catalogue(upload.catalogue.path)
    wait_until(lambda: shop.status().ready and catalogue_work_done(), what="the upload handled")
    assert "k1" in found(shop, "copper kettle")


def test_a_catalogue_that_cannot_be_served_is_explained_and_the_old_one_kept(shop, tmp_path):
    bundled = titles_of(shop.settings.catalog)
    upload = shop.receive_catalogue(*owner_files(tmp_path / "incoming"))
    upload.catalogue.path.write_bytes(b"\xff\xfe not text")  # spoilt between the check and the serve
    shop.serve_catalogue(upload.catalogue.path)
    wait_until(lambda: shop.status().ready and catalogue_work_done(), what="the failed change finished")
    assert shop.status().catalogue_problem.startswith("Catalogue products.csv is not UTF-8")
    assert not any("products.csv" in notice for notice in shop.notices("en"))  # for the owner's section, not shoppers
    assert shop.catalogue_path == shop.settings.catalog and serving(shop, bundled)  # now and after a restart
    shop.serve_catalogue(None)  # the next change clears the problem
    wait_until(lambda: shop.status().ready and catalogue_work_done(), what="the restore finished")
    assert shop.status().catalogue_problem is None


def test_a_change_asked_for_while_the_start_indexes_waits_for_it_then_is_served(make_settings, tmp_path, shared_speech):
    shop = ShopLens(make_settings(catalog=write_catalogue(tmp_path / "bundled", count=6), admin_token=None))
    shop.speech = shared_speech
    shop.allow_uploads_from(tmp_path / "incoming")
    try:
        with ProgressGate(shop) as gate:
            shop.start(speech=False, background=True)
            assert gate.reached()[0] == 0  # the first start is indexing its catalogue
            upload = shop.receive_catalogue(*owner_files(tmp_path / "incoming"))
            shop.serve_catalogue(upload.catalogue.path)
        wait_until(lambda: shop.status().ready and catalogue_work_done(), what="start-up, then the change")
        assert shop.status().catalogue_problem is None
        assert shop.catalogue_path == upload.catalogue.path.resolve() and serving(shop, NEW)
    finally:
        shop.stop()


def test_a_choice_overtaken_by_a_later_one_never_undoes_it(shop, tmp_path, monkeypatch):
    """The owner serves a file that turns out spoilt, then, while it is still being read, a good one."""
    spoilt = shop.receive_catalogue(*owner_files(tmp_path / "incoming" / "a")).catalogue.path
    spoilt.write_bytes(b"\xff\xfe not text")
    good = shop.receive_catalogue(*owner_files(tmp_path / "incoming" / "b")).catalogue.path
    reading, go = threading.Event(), threading.Event()
    real_index = shop.index_catalogue

    def index(path=None, **options):
        if path == spoilt.resolve():
            reading.set()
            go.wait(WAIT_S)
        return real_index(path, **options)

    monkeypatch.setattr(shop, "index_catalogue", index)
    shop.serve_catalogue(spoilt)
    assert reading.wait(WAIT_S)
    shop.serve_catalogue(good)  # asked for while the spoilt one is being read
    go.set()
    wait_until(lambda: shop.status().ready and catalogue_work_done(), what="both changes finished")
    assert shop.status().catalogue_problem is None  # the spoilt one's failure no longer matters
    assert shop.catalogue_path == good.resolve() and serving(shop, NEW)


def no_clip() -> None:
    raise ModelUnavailableError("Could not load CLIP model 'shoplens-tiny' (its download host cannot be reached).")


# --- the page --------------------------------------------------------------------------------------
DEMO_PRODUCT = "Red Classic T-Shirt"  # in the bundled demo catalogue
PICTURES_LOADED = "[...document.querySelectorAll('#results img')].every(img => img.complete && img.naturalWidth > 0)"


@pytest.fixture(scope="module")
def admin_app(bundled_settings, shared_speech):
    """The app serving the bundled demo catalogue, with an admin token: yields (url, shop)."""
    with running_app(bundled_settings(admin_token=TOKEN, top_k=6), speech=shared_speech) as served:
        yield served


@pytest.fixture
def admin_page(browser, admin_app):
    page = open_page(browser, admin_app[0])
    page.click("#admin .label-wrap")  # unfold "Your catalogue (shop owners)"
    page.locator("#admin-token input").wait_for(state="visible")
    yield page
    page.context.close()


def choose(page, component: str, path: Path) -> None:
    """Pick a file in one of the section's file boxes and wait until the server has received it."""
    with page.expect_response(lambda response: "/gradio_api/upload" in response.url and response.ok):
        page.locator(f"#{component} input[type=file]").set_input_files(str(path))
    page.locator(f"#{component}", has_text=re.compile(rf"{re.escape(path.stem)}\s*{re.escape(path.suffix)}")).wait_for()


def click_and_settle(page, button: str) -> None:
    page.click(f"#{button}")
    settle(page)


def notice(page, words: str) -> None:
    page.locator(".toast-body", has_text=words).first.wait_for(state="visible")
    assert "Traceback" not in page.content()


def report(page) -> list[str]:
    """The section's report, line by line."""
    return [line for line in page.locator("#admin-report").inner_text().splitlines() if line.strip()]


def banner_says(page, words: str) -> None:
    page.locator("#status-banner", has_text=words).wait_for(state="visible")


def progress_says(page, words: str, value: int) -> None:
    """The section's own progress bar, where the owner is looking (the banner is at the top of the page)."""
    page.locator("#admin-progress", has_text=words).wait_for(state="visible")
    assert page.locator("#admin-progress progress").get_attribute("value") == str(value)


def test_without_a_token_the_page_has_no_catalogue_section(browser, bundled_settings, shared_speech, tmp_path):
    settings = bundled_settings(catalog=write_catalogue(tmp_path / "shop", count=4), admin_token=None)
    with running_app(settings, speech=shared_speech) as (url, _):
        page = open_page(browser, url)
        try:
            assert page.locator("#admin, #admin-token, #admin-restore").count() == 0
            assert page.get_by_text("Your catalogue").count() == 0
        finally:
            page.context.close()


def test_a_wrong_token_is_refused_and_changes_nothing(admin_page, admin_app, tmp_path):
    page, shop = admin_page, admin_app[1]
    catalogue, images = owner_files(tmp_path)
    page.fill("#admin-token input", "not-the-token")
    choose(page, "admin-catalogue", catalogue)
    choose(page, "admin-images", images)
    click_and_settle(page, "admin-check")
    notice(page, "That admin token is not right.")
    assert report(page) == ["That admin token is not right."] and page.locator("#admin-serve").is_disabled()
    click_and_settle(page, "admin-restore")
    assert report(page) == ["That admin token is not right."], "a restore with a wrong token must not start"
    assert shop.catalogue_path == BUNDLED_CATALOGUE and not (shop.settings.data_dir / UPLOADS).exists()


def test_an_owner_checks_serves_and_searches_an_upload_then_restores_the_demo(admin_page, admin_app, tmp_path):
    page, shop = admin_page, admin_app[1]
    check_good_upload(page, tmp_path)
    page.locator("#admin").screenshot(path=str(SCREENSHOT))
    serve_with_live_progress(page, shop)
    search(page, "copper kettle")
    assert NEW["k1"] in titles(page) and set(titles(page)) <= set(NEW.values())
    page.wait_for_function(PICTURES_LOADED)  # the uploaded pictures are served too
    search(page, DEMO_PRODUCT)
    assert DEMO_PRODUCT not in titles(page) and set(titles(page)) <= set(NEW.values())

    click_and_settle(page, "admin-restore")
    assert report(page) == ["Restoring the demo catalogue; the bar below shows the progress."]
    wait_until(lambda: shop.status().ready, what="the demo catalogue restored", timeout=WAIT_S)
    search(page, DEMO_PRODUCT)
    assert DEMO_PRODUCT in titles(page) and not set(titles(page)) & set(NEW.values())
    assert shop.catalogue_path == BUNDLED_CATALOGUE


def check_good_upload(page, folder: Path) -> None:
    catalogue, images = owner_files(folder)
    page.fill("#admin-token input", TOKEN)
    assert page.locator("#admin-serve").is_disabled()  # nothing checked yet
    choose(page, "admin-catalogue", catalogue)
    choose(page, "admin-images", images)
    click_and_settle(page, "admin-check")
    assert report(page) == ["3 products ready, 3 images unpacked.", f"Not indexed: {BAD_LINE}"]
    assert page.locator("#admin-serve").is_enabled()


def serve_with_live_progress(page, shop: ShopLens) -> None:
    """Serve the checked upload; the banner counts each indexed batch, then goes away when it is served."""
    with ProgressGate(shop) as gate:
        page.click("#admin-serve")
        assert gate.reached() == (0, 3)
        banner_says(page, "Indexing the catalogue: 0 / 3")
        progress_says(page, "0 / 3 products indexed", 0)
        assert report(page)[0].startswith("Indexing your catalogue") and page.locator("#admin-serve").is_disabled()
        gate.let_go()
        assert gate.reached() == (3, 3)
        banner_says(page, "Indexing the catalogue: 3 / 3")
        progress_says(page, "3 / 3 products indexed", 3)
        gate.let_go()
    page.locator("#status-banner").wait_for(state="hidden")
    page.locator("#admin-progress progress").wait_for(state="detached")
    assert shop.status().ready


def test_a_hostile_zip_is_refused_with_a_clear_message(admin_page, admin_app, tmp_path):
    page, shop = admin_page, admin_app[1]
    catalogue, _ = owner_files(tmp_path)
    page.fill("#admin-token input", TOKEN)
    choose(page, "admin-catalogue", catalogue)
    choose(page, "admin-images", zip_slip(tmp_path))
    click_and_settle(page, "admin-check")
    notice(page, "The zip contains a path outside its folder (../../escape.png); it was refused.")
    assert report(page) == ["The zip contains a path outside its folder (../../escape.png); it was refused."]
    assert page.locator("#admin-serve").is_disabled() and "Traceback" not in page.content()
    assert shop.catalogue_path == BUNDLED_CATALOGUE and not list(shop.settings.data_dir.rglob("escape.png"))


def test_a_refused_check_does_not_leave_the_previous_upload_ready_to_serve(admin_page, tmp_path):
    page = admin_page
    check_good_upload(page, tmp_path / "good")
    page.locator("#admin-images button[aria-label=Clear]").click()
    choose(page, "admin-images", zip_slip(tmp_path / "hostile"))
    click_and_settle(page, "admin-check")
    notice(page, "path outside its folder")
    assert "3 products ready" not in " ".join(report(page)) and page.locator("#admin-serve").is_disabled()


def test_an_upload_that_cannot_be_served_is_explained_to_the_owner_only(admin_page, admin_app, tmp_path):
    """Checked, then spoilt before it is served: the section says why, the banner (shoppers') does not."""
    page, shop = admin_page, admin_app[1]
    check_good_upload(page, tmp_path)
    checked = max((shop.settings.data_dir / UPLOADS).rglob("products.csv"), key=lambda path: path.stat().st_mtime)
    checked.write_bytes(b"\xff\xfe not text")
    page.click("#admin-serve")
    page.locator("#admin-report", has_text="could not be served: Catalogue products.csv is not UTF-8").wait_for()
    assert report(page) == [  # in place of "Indexing your catalogue…"
        "The new catalogue could not be served: Catalogue products.csv is not UTF-8 text (invalid start byte). "
        "The shop goes on serving the catalogue it had."]
    assert page.locator("#status-banner", has_text="could not be served").count() == 0
    wait_until(lambda: shop.status().ready, what="the failed change", timeout=WAIT_S)
    search(page, DEMO_PRODUCT)
    assert DEMO_PRODUCT in titles(page) and shop.catalogue_path == BUNDLED_CATALOGUE
    page.locator("#admin").screenshot(path=str(SCREENSHOT.with_name("admin-problem.png")))
