"""Addresses and history in a real Chromium: a link reproduces a search (and how its words are read),
and each search is a step of the browser's history that Back and Forward return to."""

from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser_page import (
    act,
    checked,
    choose_sort,
    open_page,
    search,
    settle,
    summary,
    titles,
)

pytestmark = pytest.mark.browser


def test_a_link_reproduces_the_search(page, browser):
    search(page, "gift")
    act(page, lambda: page.locator("#filter-colour input[name=green]").check())
    choose_sort(page, "Price: high to low")
    act(page, lambda: page.click("#show-more"))
    expected, link = titles(page), page.url
    assert {"q", "colour", "sort", "n"} <= set(parse_qs(urlparse(link).query))
    again = open_page(browser, link)
    try:
        assert titles(again) == expected
        assert again.locator("#query-text textarea").input_value() == "gift"
        assert checked(again, "filter-colour") == ["green"]
        assert again.locator("#sort input[role=combobox]").input_value() == "Price: high to low"
    finally:
        again.context.close()


def test_a_link_keeps_how_the_words_are_read(browser, app_url):
    page = open_page(browser, f"{app_url}?q=gift&mode=lexical")
    try:
        page.locator("#filters button", has_text="Search options").first.click()  # the accordion holding the mode
        assert page.locator("#mode label:has(input:checked)").inner_text().strip() == "Words only (BM25)"
        search(page, "teapot")
        page.wait_for_function("location.search.includes('mode=lexical') && location.search.includes('q=teapot')")
    finally:
        page.context.close()


def test_back_and_forward_walk_through_the_searches(page):
    for words in ("lamp", "kettle", "drill"):
        search(page, words)
        page.wait_for_function("(w) => location.search.includes('q=' + w)", arg=words)  # its history step is in

    def shows(words: str) -> None:
        page.wait_for_selector("#results .sl-card")
        page.wait_for_function("(w) => document.querySelector('#query-text textarea')?.value === w", arg=words)
        settle(page)
        assert summary(page).endswith(f"“{words}”")

    for move, words in ((page.go_back, "kettle"), (page.go_back, "lamp"), (page.go_forward, "kettle")):
        with page.expect_navigation():
            move()
        shows(words)
