"""The shopper page as people use it: a real headless Chromium (Debian's) driven by Playwright.

Each of the first seven tests guards one problem found in a walkthrough (issue #7); the rest walk the
other flows: photo, voice, photo plus words, the product panel, "For you" and the guided tour.
Addresses and history (links, Back and Forward) are in tests/test_browser_links.py.
"""

from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser_page import (
    EXAMPLES,
    PRODUCTS,
    TOP_K,
    act,
    checked,
    chip_keys,
    choose_sort,
    open_page,
    products,
    search,
    settle,
    summary,
    titles,
    upload,
)

pytestmark = pytest.mark.browser


# --- the seven walkthrough problems ----------------------------------------------------------------
def test_1_filters_read_from_words_do_not_stick_to_the_next_search(page):
    search(page, "red shoes under $50")
    assert chip_keys(page) == ["price", "colour:red", "category:shoes"]
    assert all(p.colour == "red" and p.category == "shoes" and p.price <= 50 for p in products(page))
    search(page, "blue bags")
    assert chip_keys(page) == ["colour:blue", "category:bags"]
    assert products(page) and all(p.colour == "blue" and p.category == "bags" for p in products(page))
    search(page, "teddy bear")
    assert chip_keys(page) == [] and sum("Teddy" in t for t in titles(page)) >= 2
    assert checked(page, "filter-category") == [] and checked(page, "filter-colour") == []
    assert page.locator("#price-max input").input_value() in ("", "0")


def test_2_the_text_box_keeps_the_words_and_searching_again_works(page):
    search(page, "50元以下的玩具")
    assert page.locator("#query-text textarea").input_value() == "50元以下的玩具"
    first = titles(page)
    assert first and all(p.category == "toys" and p.price <= 50 for p in products(page))
    act(page, lambda: page.click("#search-button"))
    assert titles(page) == first and page.locator(".toast-body").count() == 0
    search(page, "a bag, not leather")
    assert "not:leather" in chip_keys(page)
    assert page.locator("#query-text textarea").input_value() == "a bag, not leather"


def test_3_filters_alone_browse_the_catalogue_best_rated_first(page):
    page.fill("#query-text textarea", "")
    act(page, lambda: page.locator("#filter-category input[name=toys]").check())
    shown = products(page)
    assert shown and all(p.category == "toys" for p in shown)
    assert [p.rating for p in shown] == sorted((p.rating for p in shown), reverse=True)
    toys = sum(p.category == "toys" for p in PRODUCTS.values())
    assert summary(page) == f"{toys} products" and page.locator(".toast-body").count() == 0


def test_4_on_a_phone_the_search_bar_and_button_are_at_the_top_of_the_first_screen(browser, app_url):
    page = open_page(browser, app_url, width=390, height=844)
    try:
        text_box = page.locator("#query-text textarea").bounding_box()
        button = page.locator("#search-button").bounding_box()
        assert text_box["y"] < 150 and button["y"] + button["height"] < 300
        assert page.locator("#filters .sidebar-content").is_hidden() or not page.locator("#filters.open").count()
        search(page, "teapot")
        first_card = page.locator("#results .sl-card").first.bounding_box()
        assert first_card["y"] < 844  # results start on the first screen, right under the bar
        page.click("#filters-button")  # the filters fold out when asked for
        page.locator("#filter-category input[name=kitchen]").wait_for(state="visible")
    finally:
        page.context.close()


def test_5_one_result_has_the_same_card_as_one_of_twelve(page):
    search(page, "red shoes under $50", expect="1 result")
    single = page.locator("#results .sl-card").bounding_box()
    search(page, "gift")
    act(page, lambda: page.click("#show-more"))
    assert len(titles(page)) == 2 * TOP_K
    for card in page.locator("#results .sl-card").all():
        box = card.bounding_box()
        assert abs(box["width"] - single["width"]) < 1 and abs(box["height"] - single["height"]) < 1
    for card, product in zip(page.locator("#results .sl-card").all(), products(page)):  # title, price, rating shown
        assert card.locator(".sl-title").is_visible() and card.locator(".sl-price").inner_text() == f"${product.price:.2f}"
        expected = f"★ {product.rating:.1f}" if product.rating is not None else "not rated yet"
        assert card.locator(".sl-rating").inner_text() == expected


def test_6_facets_click_sort_and_show_more(page):
    search(page, "gift")
    blue = page.locator("#filter-colour label", has_text="blue").inner_text()
    count = int(blue.split("(")[1].rstrip(")"))
    act(page, lambda: page.locator("#filter-colour input[name=blue]").check())
    assert all(p.colour == "blue" for p in products(page)) and summary(page) == f"{count} results for “gift”"
    choose_sort(page, "Price: low to high")
    prices = [p.price for p in products(page)]
    assert prices == sorted(prices)
    act(page, lambda: page.click("#show-more"))
    more = [p.price for p in products(page)]
    assert len(more) == min(2 * TOP_K, count) and more == sorted(more) and more[:TOP_K] == prices
    choose_sort(page, "Rating")
    ratings = [p.rating for p in products(page)]
    assert ratings == sorted(ratings, reverse=True)


def test_a_ticked_filter_shows_beside_the_next_search_and_comes_off_there(page):
    search(page, "red shoes under $50")
    act(page, lambda: page.locator("#filter-category input[name=sports]").check())
    search(page, "wireless headphones")  # the sidebar's filter stays, and says so beside the results
    own = page.locator("#summary .sl-filter-chip[data-chip='filter:category:sports']")
    assert own.inner_text().startswith("sports") and chip_keys(page) == []
    assert products(page) and all(p.category == "sports" for p in products(page))
    act(page, lambda: own.click())
    assert page.locator("#summary .sl-filter-chip").count() == 0 and checked(page, "filter-category") == []
    assert "Headphones" in " ".join(titles(page))
    page.fill("#query-negative textarea, #query-negative input", "wireless")
    act(page, lambda: page.press("#query-negative textarea, #query-negative input", "Enter"))
    act(page, lambda: page.click("#summary .sl-filter-chip[data-chip='filter:not']"))
    assert page.locator("#query-negative textarea, #query-negative input").input_value() == ""


def test_7_the_page_speaks_chinese_when_asked_and_by_default_for_chinese_browsers(page, browser, app_url, tmp_path):
    act(page, lambda: page.locator("#language label", has_text="中文").click())
    assert page.locator("#search-button").inner_text() == "搜索"
    assert "件商品" in summary(page)
    assert page.locator("#filter-category [data-testid=block-info]").inner_text() == "类别"
    search(page, "红色的跑步鞋")
    assert "颜色：红色" in page.locator("#summary .sl-chips").inner_text()
    assert "lang=zh" in page.url
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"these bytes are not a picture")
    upload(page, "query-image", broken)
    page.click("#search-button")
    page.get_by_text("无法读取这个图片文件", exact=False).first.wait_for(state="visible")
    chinese_browser = open_page(browser, app_url, locale="zh-CN")
    try:
        assert chinese_browser.locator("#search-button").inner_text() == "搜索"
    finally:
        chinese_browser.context.close()


# --- more of the page ------------------------------------------------------------------------------
def test_removing_a_chip_runs_the_search_again_without_it(page):
    search(page, "red shoes under $50", expect="1 result")
    act(page, lambda: page.click("#summary .sl-chip[data-chip='colour:red']"))
    assert chip_keys(page) == ["price", "category:shoes"]
    shown = products(page)
    assert len(shown) > 1 and {p.colour for p in shown} - {"red"}
    assert all(p.category == "shoes" and p.price <= 50 for p in shown)
    assert page.locator("#query-text textarea").input_value() == "red shoes under $50"
    assert parse_qs(urlparse(page.url).query)["drop"] == ["colour:red"]
    search(page, "red shoes under $50", expect="1 result")  # a new search starts afresh
    assert chip_keys(page) == ["price", "colour:red", "category:shoes"]


def test_no_results_says_why_and_offers_to_drop_the_filter(page):
    act(page, lambda: page.locator("#filter-category input[name=toys]").check())
    search(page, "red running shoes")
    assert summary(page) == "No results for “red running shoes”"
    offer = page.locator("#summary .sl-relax").first
    assert "your category filter (toys)" in offer.inner_text()
    nearest = products(page, "#nearest")
    assert nearest and all(p.category == "shoes" for p in nearest)
    act(page, lambda: offer.click())
    assert checked(page, "filter-category") == [] and products(page)[:1] == nearest[:1]


def test_product_panel_opens_beside_the_results_and_records_the_view(page):
    search(page, "teapot")
    grid = page.locator("#results").bounding_box()
    page.locator("#results .sl-card").first.click()
    page.wait_for_selector("#detail-head h2")
    assert page.locator("#results").bounding_box() == grid  # the page did not move
    assert "$" in page.locator("#detail-head").inner_text()
    page.wait_for_selector("#detail-text .sl-why table")
    assert "word match" in page.locator("#detail-text").inner_text()
    page.wait_for_function("document.querySelectorAll('#similar .sl-card').length >= 4")
    first_similar = page.locator("#similar .sl-title").first.inner_text()
    page.locator("#similar .sl-card").first.click()
    page.wait_for_function("(t) => document.querySelector('#detail-head h2').innerText === t", arg=first_similar)
    page.click("#detail-close")
    page.locator("#detail").wait_for(state="hidden")


def test_typed_query_shows_loaded_pictures(page):
    search(page, "a present for my sister")
    assert len(titles(page)) == TOP_K
    page.wait_for_function("[...document.querySelectorAll('#results img')].every(img => img.complete && img.naturalWidth > 0)")


def test_uploaded_photo_finds_products(page):
    upload(page, "query-image", EXAMPLES / "photo_red_shoe.jpg")
    search_with_inputs(page)
    assert summary(page) == f"Best 100 of {len(PRODUCTS)} results for “your photo”" and len(titles(page)) == TOP_K


def search_with_inputs(page) -> None:
    act(page, lambda: page.click("#search-button"))


def test_voice_clip_puts_its_words_in_the_box_to_refine(page, speak):
    upload(page, "query-audio", speak("a brown teddy bear"))
    search_with_inputs(page)
    assert page.locator("#query-text textarea").input_value().lower().rstrip(".") == "a brown teddy bear"
    assert "brown teddy bear" in summary(page).lower() and "colour:brown" in chip_keys(page)
    act(page, lambda: page.click("#summary .sl-chip[data-chip='colour:brown']"))  # refine without re-recording
    assert "colour:brown" not in chip_keys(page)


@pytest.mark.parametrize("component, name, content, message", [
    ("query-image", "broken.png", b"these bytes are not a picture", "not an image we can read"),
    ("query-audio", "broken.wav", b"these bytes are not a sound", "not audio we can read"),
])  # fmt: skip
def test_bad_uploads_show_a_readable_message_and_lose_nothing(page, tmp_path, component, name, content, message):
    search(page, "teapot")
    before = titles(page)
    bad = tmp_path / name
    bad.write_bytes(content)
    upload(page, component, bad)
    page.click("#search-button")
    page.get_by_text(message, exact=False).first.wait_for(state="visible")
    assert "Traceback" not in page.content()
    settle(page)
    assert titles(page) == before and page.locator("#query-text textarea").input_value() == "teapot"


def test_the_photo_a_search_uses_stays_in_sight_and_closing_it_takes_it_out(page):
    act(page, lambda: page.click("#tour-photo"))  # the tour sets a photo for the shopper
    assert "your photo" in summary(page)
    assert "sl-hidden" not in page.locator("#photo-panel").get_attribute("class")
    page.locator("#query-image img").first.wait_for(state="visible")
    page.click("#photo-button")  # closed: the photo leaves the query with its panel
    page.wait_for_function("document.querySelector('#photo-panel').classList.contains('sl-hidden')")
    page.wait_for_function("!document.querySelector('#query-image img')")
    search(page, "wireless headphones")
    assert "your photo" not in summary(page)
    page.click("#photo-button")
    assert page.locator("#query-image img").count() == 0


def test_photo_plus_words(page):
    upload(page, "query-image", EXAMPLES / "photo_green_hoodie.jpg")
    search_with_inputs(page)
    photo_only = titles(page)
    page.fill("#query-text textarea", "like this, but in red")
    search_with_inputs(page)
    assert "colour:red" in chip_keys(page)
    assert titles(page) != photo_only and all(p.colour == "red" for p in products(page))


def test_viewing_instruments_moves_music_up_in_for_you(page):
    page.wait_for_function("document.querySelector('#for-you-note').innerText.includes('Popular')")

    def music() -> int:
        return sum(p.category == "music" for p in products(page, "#for-you"))

    before = music()
    for query in ("violin", "saxophone"):
        search(page, query)
        page.locator("#results .sl-card", has_text=query.title()).first.click()
        page.wait_for_function("(q) => (document.querySelector('#detail-head h2')?.innerText || '').toLowerCase().includes(q)",
                               arg=query)  # fmt: skip
        page.click("#detail-close")
    page.wait_for_function("document.querySelector('#for-you-note').innerText.includes('From what you viewed')")
    page.wait_for_function("document.querySelector('#for-you .sl-reason')?.innerText.includes('because you viewed')")
    assert music() > before and music() >= 5
    page.locator("#profile").click()
    assert "view" in page.locator("#profile-table").inner_text()


def test_the_guided_tour_runs_each_step_live(page):
    steps = {"words": "red running shoes", "photo": "your photo", "voice": "teddy bear", "composed": "your photo +",
             "personal": "“red”"}  # fmt: skip
    for step, expected in steps.items():
        act(page, lambda step=step: page.click(f"#tour-{step}"))
        assert expected in summary(page).lower() if step == "voice" else expected in summary(page), step
        assert page.locator("#tour-note").inner_text().strip()
    assert "teddy bear" not in page.locator("#query-text textarea").input_value()  # the last step typed "red"
    assert page.locator("#for-you .sl-reason").first.inner_text()


def test_suggestions_as_you_type_and_a_typo_chip(page):
    page.locator("#query-text textarea").press_sequentially("tedd", delay=60)
    page.wait_for_selector("#suggestions .sl-suggestion")
    offered = page.locator("#suggestions .sl-suggestion").all_inner_texts()
    assert "teddy bear" in offered
    act(page, lambda: page.locator("#suggestions .sl-suggestion", has_text="teddy bear").first.click())
    assert page.locator("#query-text textarea").input_value() == "teddy bear"
    assert page.locator("#suggestions .sl-suggestion").count() == 0
    search(page, "keybaord")
    assert chip_keys(page) == ["spelling"] and summary(page).endswith("“keyboard”")
    assert "Keyboard" in titles(page)[0]
    act(page, lambda: page.click("#summary .sl-chip[data-chip='spelling']"))
    assert chip_keys(page) == [] and summary(page).endswith("“keybaord”")
