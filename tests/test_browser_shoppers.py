"""Reviews and a shopper's own data, as people use them in Chromium: write a review three ways, vote,
continue on a second device with a pairing code, download everything, forget everything."""

import json
import sqlite3

import pytest

from engine.settings import PROJECT_ROOT
from tests.app_server import running_app
from tests.browser_page import WAIT_MS, search, settle

pytestmark = pytest.mark.browser
PRODUCT = "Red Violin"


@pytest.fixture(scope="module")
def app(bundled_settings, shared_speech):
    with running_app(bundled_settings(top_k=6), speech=shared_speech) as (url, shop):
        yield url, shop


def device(browser, url):
    """A fresh browser profile: a new device with its own anonymous shopper id."""
    context = browser.new_context(viewport={"width": 1300, "height": 1100}, locale="en-US", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.wait_for_selector("#results .sl-card")
    settle(page)
    return page


def shopper_of(page) -> str:
    """The anonymous id the page shows under "You" (the browser keeps it encrypted)."""
    page.wait_for_function("document.querySelector('#shopper-id code')")
    return page.locator("#shopper-id code").inner_text()


def open_violin(page) -> None:
    search(page, "red violin")
    page.locator("#results .sl-card", has_text=PRODUCT).first.click()
    page.wait_for_function("(t) => document.querySelector('#detail-head h2')?.innerText === t", arg=PRODUCT)
    page.wait_for_selector("#reviews")
    settle(page)


def write(page, stars: int, words: str = "", photo=None, voice=None) -> None:
    page.locator("#write-review").click()
    page.locator("#review-stars label").nth(5 - stars).click()  # listed from five stars down to one
    if voice is not None:
        page.locator("#review-voice button[aria-label='Upload file']").click()
        with page.expect_response(lambda r: "/gradio_api/upload" in r.url and r.ok):
            page.locator("#review-voice input[type=file]").set_input_files(str(voice))
        page.click("#review-transcribe")
        page.wait_for_function("document.querySelector('#review-text textarea').value.includes('strings')")
    if words:
        page.fill("#review-text textarea", words)
    if photo is not None:
        with page.expect_response(lambda r: "/gradio_api/upload" in r.url and r.ok):
            page.locator("#review-photo input[type=file]").set_input_files(str(photo))
    page.click("#review-post")
    page.get_by_text("your review is posted", exact=False).first.wait_for(state="visible")
    settle(page)


def test_reviews_written_by_typing_with_a_photo_and_by_voice(browser, app, speak):
    url, shop = app
    page = device(browser, url)
    try:
        open_violin(page)
        bundled = page.locator("#reviews .sl-review").count()
        write(page, 4, "Lovely warm tone, and it arrived quickly. A little pricey.")
        mine = page.locator("#reviews .sl-review", has_text="Lovely warm tone").first
        assert "Delete my review" in mine.inner_text()
        assert page.locator("#reviews .sl-review").count() == bundled + 1
        write(page, 5, "Beautiful finish, exactly as pictured.", photo=PROJECT_ROOT / "assets" / "examples" / "photo_red_shoe.jpg")
        assert page.locator("#reviews .sl-review").count() == bundled + 1  # posting again edits one's review
        page.wait_for_selector("#reviews .sl-review img.sl-review-photo")
        photo = page.locator("#reviews .sl-review img.sl-review-photo").first
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=photo.element_handle())
        # Whisper's words land in the box; the shopper corrects what it misheard before posting.
        write(page, 2, "The strings broke after a week.", voice=speak("the strings broke after a week"))
        mine = page.locator("#reviews .sl-review", has_text="The strings broke after a week.").first
        assert mine.inner_text().startswith("★★☆☆☆")
        stored = [r for r in shop.reviews.reviews.for_product("music-violin-red") if r.origin == "shopper"]
        assert len(stored) == 1 and stored[0].stars == 2 and stored[0].text == "The strings broke after a week."
        assert "strings" in stored[0].transcript  # what Whisper heard is kept beside the corrected words
    finally:
        page.context.close()


def test_helpful_votes_count_once(browser, app):
    url, _ = app
    page = device(browser, url)
    try:
        open_violin(page)
        vote = page.locator("#reviews [data-vote]").first
        review_id = vote.get_attribute("data-vote")
        before = int(vote.inner_text().split("(")[1].rstrip(")"))
        for _ in range(2):
            page.locator(f"#reviews [data-vote='{review_id}']").click()
            settle(page)
        after = int(page.locator(f"#reviews [data-vote='{review_id}']").inner_text().split("(")[1].rstrip(")"))
        assert after == before + 1
    finally:
        page.context.close()


def test_a_second_device_continues_the_same_profile(browser, app):
    url, shop = app
    laptop, phone = device(browser, url), device(browser, url)
    try:
        open_violin(laptop)
        laptop.click("#detail-close")
        laptop.click("#profile")
        laptop.click("#pair-start")
        laptop.wait_for_function("document.querySelector('#pair-code').innerText.includes('-')")
        code = laptop.locator("#pair-code strong").inner_text()
        laptop.wait_for_selector("#pair-qr img")
        phone.click("#profile")
        phone.fill("#pair-code-in input, #pair-code-in textarea", code)
        phone.click("#pair-join")
        phone.get_by_text("shares one profile", exact=False).first.wait_for(state="visible")
        phone.wait_for_function("document.querySelector('#profile-table').innerText.includes('Red Violin')")
        assert shop.events.history(shopper_of(phone))[0].product_id == "music-violin-red"
        assert phone.locator("#pair-code-in input, #pair-code-in textarea").input_value() == ""
        phone.fill("#pair-code-in input, #pair-code-in textarea", code)
        phone.click("#pair-join")  # the code works once
        phone.get_by_text("pairing code is not valid", exact=False).first.wait_for(state="visible")
        phone.click("#pair-unpair")
        phone.get_by_text("its own profile again", exact=False).first.wait_for(state="visible")
        assert shop.events.history(shopper_of(phone)) == []
        assert shop.events.history(shopper_of(laptop))[0].product_id == "music-violin-red"
    finally:
        laptop.context.close()
        phone.context.close()


def test_a_scanned_pairing_link_offers_its_code_and_joins_only_when_asked(browser, app):
    url, shop = app
    laptop = device(browser, url)
    try:
        laptop.click("#profile")
        laptop.click("#pair-start")
        laptop.wait_for_function("document.querySelector('#pair-code').innerText.includes('-')")
        code = laptop.locator("#pair-code strong").inner_text()
        phone = device(browser, f"{url}?pair={code}")  # what the QR code opens
        try:
            phone.get_by_text("Join only a code from your own device", exact=False).first.wait_for(state="visible")
            assert phone.locator("#pair-code-in input, #pair-code-in textarea").input_value() == code
            phone.wait_for_function("!location.search.includes('pair=')")  # the code leaves the address bar
            assert shop.pairing.devices(shopper_of(phone)) == [shopper_of(phone)]  # not joined by following a link
            phone.click("#pair-join")
            phone.get_by_text("shares one profile", exact=False).first.wait_for(state="visible")
            assert shopper_of(laptop) in shop.pairing.devices(shopper_of(phone))
        finally:
            phone.context.close()
    finally:
        laptop.context.close()


def test_export_then_forget_me_keeping_reviews_anonymous(browser, app, tmp_path):
    url, shop = app
    page = device(browser, url)
    try:
        open_violin(page)
        write(page, 3, "Decent for a beginner, the bow is cheap.")
        page.click("#detail-close")
        page.click("#profile")
        page.click("#export-data")
        page.locator("#download-data").wait_for(state="visible")
        with page.expect_download() as download:
            page.click("#download-data")
        exported = json.loads(download.value.path().read_text(encoding="utf-8"))
        assert any(e.get("product_id") == "music-violin-red" for e in exported["events"])
        assert any("bow is cheap" in r["text"] for r in exported["reviews"])
        page.locator("#forget-reviews label", has_text="a shopper").click()
        me = shopper_of(page)
        page.click("#forget-me")  # asked first: "Keep my data" keeps it
        page.click("#forget-me-cancel")
        page.locator("#forget-me-confirm").wait_for(state="hidden")
        assert shop.events.history(me)
        page.click("#forget-me")
        page.click("#forget-me-confirm")
        page.get_by_text("Forgotten:", exact=False).first.wait_for(state="visible")
        assert shop.events.history(me) == []
        with sqlite3.connect(shop.database.path) as raw:
            rows = raw.execute("SELECT shopper, author, origin FROM reviews WHERE text LIKE '%bow is cheap%'").fetchall()
        assert rows and all(shopper != me and origin == "anonymised" for shopper, _, origin in rows)
    finally:
        page.context.close()
