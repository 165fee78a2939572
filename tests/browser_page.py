"""What the browser tests share: opening a page, and the steps a shopper takes (search, act and wait,
upload), each waiting until the page has answered. The ``app_url`` and ``page`` fixtures are in
tests/conftest.py."""

from engine.catalogue.products import load_catalogue
from engine.settings import BUNDLED_CATALOGUE, PROJECT_ROOT

TOP_K = 6
WAIT_MS = 90_000
PRODUCTS = {p.title: p for p in load_catalogue(BUNDLED_CATALOGUE).products}
EXAMPLES = PROJECT_ROOT / "assets" / "examples"


def open_page(browser, url, *, width=1300, height=1000, locale="en-US"):
    context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.wait_for_selector("#results .sl-card")
    settle(page)
    return page


# --- helpers ---------------------------------------------------------------------------------------
def settle(page) -> None:
    """Wait until no Gradio event is running (every status tracker hidden)."""
    page.wait_for_timeout(150)
    page.wait_for_function("[...document.querySelectorAll('[data-testid=status-tracker]')]"
                           ".every(tracker => tracker.classList.contains('hide'))")  # fmt: skip


def summary(page) -> str:
    return page.locator("#summary .sl-summary").inner_text()


def search(page, words: str, *, expect: str | None = None) -> None:
    before = page.locator("#summary").inner_html()
    page.fill("#query-text textarea", words)
    page.click("#search-button")
    page.wait_for_function("(before) => document.querySelector('#summary').innerHTML !== before", arg=before)
    settle(page)
    if expect:
        assert expect in summary(page)


def act(page, action) -> None:
    """Do something that re-renders the results, and wait until it has."""
    before = page.locator("#summary").inner_html() + page.locator("#results").inner_html()
    action()
    page.wait_for_function("(before) => document.querySelector('#summary').innerHTML"
                           " + document.querySelector('#results').innerHTML !== before", arg=before)  # fmt: skip
    settle(page)


def titles(page, where: str = "#results") -> list[str]:
    return page.locator(f"{where} .sl-card .sl-title").all_inner_texts()


def products(page, where: str = "#results"):
    return [PRODUCTS[title] for title in titles(page, where)]


def chip_keys(page) -> list[str]:
    return page.locator("#summary .sl-chip").evaluate_all("chips => chips.map(c => c.dataset.chip)")


def checked(page, control: str) -> list[str]:
    return page.locator(f"#{control} input:checked").evaluate_all("boxes => boxes.map(b => b.name)")


def choose_sort(page, label: str) -> None:
    page.click("#sort input[role=combobox]")
    act(page, lambda: page.get_by_role("option", name=label).click())


def upload(page, component: str, path) -> None:
    """Choose a file in the photo or voice panel and wait until the server has received it."""
    panel = "#photo-panel" if component == "query-image" else "#voice-panel"
    if "sl-hidden" in (page.locator(panel).get_attribute("class") or ""):
        page.click("#photo-button" if component == "query-image" else "#voice-button")
    if component == "query-audio":
        page.locator("#query-audio button[aria-label='Upload file']").click()
    with page.expect_response(lambda response: "/gradio_api/upload" in response.url and response.ok):
        page.locator(f"#{component} input[type=file]").set_input_files(str(path))
