"""The app as a shopper uses it: a real headless Chromium (Debian's) driven by Playwright."""

import shutil

import pytest

from engine.catalogue.products import load_catalogue
from engine.settings import BUNDLED_CATALOGUE, PROJECT_ROOT
from tests.app_server import running_app

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]  # fmt: skip
TOP_K = 6
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def app_url(bundled_settings, shared_speech):
    with running_app(bundled_settings(top_k=TOP_K), speech=shared_speech) as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(app_url)
    page.wait_for_selector("#search-button")
    yield page
    context.close()


def result_images(page):
    page.wait_for_function(f"document.querySelectorAll('#results img').length >= {TOP_K}")
    return page.locator("#results img")


def upload(page, component: str, path) -> None:
    """Choose a file in an input component and wait until the server has received it."""
    if component == "query-audio":
        page.locator("#query-audio button[aria-label='Upload file']").click()
    with page.expect_response(lambda response: "/gradio_api/upload" in response.url and response.ok):
        page.locator(f"#{component} input[type=file]").set_input_files(str(path))


def test_typed_query_shows_gallery_images(page):
    page.fill("#query-text textarea", "a present for my sister")
    page.click("#search-button")
    assert result_images(page).count() == TOP_K
    page.wait_for_function("[...document.querySelectorAll('#results img')].every(img => img.complete && img.naturalWidth > 0)")
    page.wait_for_function("document.querySelector('#summary').innerText.includes('products found')")


def test_enter_in_the_text_box_searches_too(page):
    page.fill("#query-text textarea", "teapot")
    page.press("#query-text textarea", "Enter")
    assert result_images(page).count() == TOP_K


def test_uploaded_photo_finds_products_and_detail_opens(page):
    upload(page, "query-image", PROJECT_ROOT / "assets" / "examples" / "photo_red_shoe.jpg")
    page.click("#search-button")
    result_images(page).first.click()
    page.wait_for_selector("#detail-text h2")
    assert page.locator("#detail-text").inner_text().count("$") >= 1
    page.wait_for_function("document.querySelectorAll('#similar img').length >= 4")


def test_uploaded_voice_clip_shows_the_transcript(page, speak):
    upload(page, "query-audio", speak("a brown teddy bear"))
    page.click("#search-button")
    page.wait_for_function("document.querySelector('#transcript textarea').value.length > 0")
    assert page.locator("#transcript textarea").input_value().lower().rstrip(".") == "a brown teddy bear"
    assert result_images(page).count() == TOP_K


@pytest.mark.parametrize("component, name, content, message", [
    ("query-image", "broken.png", b"these bytes are not a picture", "not an image we can read"),
    ("query-audio", "broken.wav", b"these bytes are not a sound", "not audio we can read"),
])  # fmt: skip
def test_bad_uploads_show_a_readable_message(page, tmp_path, component, name, content, message):
    bad = tmp_path / name
    bad.write_bytes(content)
    upload(page, component, bad)
    page.click("#search-button")
    toast = page.get_by_text(message, exact=False).first
    toast.wait_for(state="visible")
    assert "Traceback" not in page.content()


def captions(page) -> list[str]:
    return page.locator("#results .caption-label").all_inner_texts()


def test_composed_photo_and_words_query(page):
    upload(page, "query-image", PROJECT_ROOT / "assets" / "examples" / "photo_green_hoodie.jpg")
    page.click("#search-button")
    result_images(page)
    photo_only = captions(page)
    page.fill("#query-text textarea", "like this, but in red")
    page.locator("#text-weight input[type=number]").fill("0.8")
    page.locator("#text-weight input[type=number]").press("Enter")
    page.click("#search-button")
    page.wait_for_function("document.querySelector('#summary').innerText.includes('colour: red')")
    page.wait_for_function(f"document.querySelectorAll('#results .caption-label').length >= {TOP_K}")
    composed = captions(page)
    colour_of = {p.title: p.colour for p in load_catalogue(BUNDLED_CATALOGUE).products}
    assert composed != photo_only and all(colour_of[caption.split(" · ")[0]] == "red" for caption in composed)
    assert page.locator("#filter-colour").inner_text().count("red") >= 1  # the chip is in the editable filter
    page.locator("#results .thumbnail-item").first.click()
    page.wait_for_selector("#why table")
    assert "image similarity" in page.locator("#why").inner_text()


def test_viewing_products_of_a_category_raises_it_in_for_you(page):
    page.wait_for_function("document.querySelector('#for-you-note').innerText.includes('Popular')")
    category_of = {p.title: p.category for p in load_catalogue(BUNDLED_CATALOGUE).products}

    def music_in_for_you() -> int:
        return sum(category_of[c.split(" · ")[0]] == "music" for c in page.locator("#for-you .caption-label").all_inner_texts())

    page.wait_for_function("document.querySelectorAll('#for-you .caption-label').length >= 8")
    before = music_in_for_you()
    for query in ("violin", "saxophone"):
        page.fill("#query-text textarea", query)
        page.click("#search-button")
        page.wait_for_function(f"[...document.querySelectorAll('#results .caption-label')].some(c => c.innerText.toLowerCase().includes('{query}'))")
        page.locator("#results .thumbnail-item", has_text=query.title()).first.click()
        page.wait_for_function(f"document.querySelector('#detail-text h2') && document.querySelector('#detail-text h2').innerText.toLowerCase().includes('{query}')")
    page.wait_for_function("document.querySelector('#for-you-note').innerText.includes('from what you viewed')")
    page.wait_for_function("document.querySelector('#for-you .caption-label') && document.querySelector('#for-you .caption-label').innerText.includes('because you viewed')")
    assert music_in_for_you() > before and music_in_for_you() >= 5
    page.locator("#profile").click()
    assert "view" in page.locator("#profile-table").inner_text()
