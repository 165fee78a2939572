"""What a results page shows, through the engine, as shoppers use it: search, refine, search again."""

import re
from urllib.parse import parse_qsl

import pytest

from demo.reviews_ui import reviews_html
from demo.urls import LinkState, pairing_code
from engine.errors import InvalidInputError
from engine.i18n import ERRORS_ZH, error_text
from engine.service import ShopLens
from engine.types import Filters, Query, ReviewItem, ReviewsView, make_filters

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def shop(bundled_settings):
    shop = ShopLens(bundled_settings(top_k=6))
    shop.start(speech=False)
    return shop


def ids(hits) -> list[str]:
    return [hit.product.id for hit in hits]


def test_filters_read_from_one_query_never_reach_the_next(shop):
    first = shop.search_page(Query(text="red shoes under $50"), shopper="walkthrough")
    assert [chip.key for chip in first.chips] == ["price", "colour:red", "category:shoes"]
    assert first.hits and all(h.product.colour == "red" and h.product.category == "shoes" and h.product.price <= 50
                              for h in first.hits)  # fmt: skip
    second = shop.search_page(Query(text="blue bags"), shopper="walkthrough")
    assert [chip.key for chip in second.chips] == ["colour:blue", "category:bags"]
    assert all(h.product.colour == "blue" and h.product.category == "bags" for h in second.hits)
    third = shop.search_page(Query(text="teddy bear"), shopper="walkthrough")
    assert third.chips == [] and sum("teddy" in h.product.title.lower() for h in third.hits) >= 2
    assert not any(v.selected for facet in third.facets for v in facet.values)  # the shopper's controls stayed empty


def test_removing_a_chip_drops_its_filter_and_keeps_the_word(shop):
    strict = shop.search_page(Query(text="red shoes under $50"))
    relaxed = shop.search_page(Query(text="red shoes under $50", dropped=("colour:red",)))
    assert [chip.key for chip in relaxed.chips] == ["price", "category:shoes"]
    assert relaxed.total > strict.total
    assert {h.product.colour for h in relaxed.hits} - {"red"}  # other colours now
    assert all(h.product.category == "shoes" and h.product.price <= 50 for h in relaxed.hits)
    without_price = shop.search_page(Query(text="red shoes under $50", dropped=("price",), k=20))
    assert any(h.product.price > 50 for h in without_price.hits)
    negated = shop.search_page(Query(text="bag, not leather", k=20))
    assert [chip.key for chip in negated.chips] == ["category:bags", "not:leather"]
    assert all(h.breakdown["negative"] == 0 for h in negated.hits[:3])
    kept = shop.search_page(Query(text="bag, not leather", dropped=("not:leather",), k=20))
    assert all(h.breakdown["negative"] == 0 for h in kept.hits)  # no penalty once the chip is gone
    assert [chip.key for chip in kept.chips] == ["category:bags"]


def test_own_filters_and_words_apply_together(shop):
    page = shop.search_page(Query(text="shoes under $80", filters=make_filters(price_max=60, colours=["black", "red"])))
    assert all(h.product.category == "shoes" and h.product.price <= 60 and h.product.colour in {"black", "red"}
               for h in page.hits)  # fmt: skip
    selected = {v.value for facet in page.facets for v in facet.values if v.selected}
    assert selected == {"black", "red"}  # the shopper's own controls, unchanged by the words


def test_own_filters_stay_in_sight_from_search_to_search_and_come_off_one_by_one(shop):
    own = make_filters(categories=["sports"], colours=["red"], price_max=80, rating_min=4)
    first = shop.search_page(Query(text="red shoes under $50", filters=own, negative="leather"), lang="en")
    assert [c.key for c in first.chips] == ["price", "colour:red", "category:shoes"]  # this query's words
    assert [(c.key, c.label) for c in first.filter_chips] == [
        ("filter:category:sports", "sports"), ("filter:colour:red", "colour: red"), ("filter:price", "≤ $80"),
        ("filter:rating", "4★ & up"), ("filter:not", "not: leather")]  # fmt: skip
    again = Query(text="wireless headphones", filters=own, negative="leather")  # the sidebar kept them
    second = shop.search_page(again)
    assert second.chips == [] and [c.key for c in second.filter_chips] == [c.key for c in first.filter_chips]
    assert second.hits and all(h.product.category == "sports" for h in second.hits)
    freed = again.without_chip("filter:category:sports")
    third = shop.search_page(freed)
    assert freed.filters.categories == () and freed.filters.colours == ("red",) and freed.negative == "leather"
    assert "filter:category:sports" not in [c.key for c in third.filter_chips] and third.total > second.total
    bare = freed
    for chip in third.filter_chips:
        bare = bare.without_chip(chip.key)
    assert bare.filters == Filters() and bare.negative == "" and shop.search_page(bare).filter_chips == []
    assert again.without_chip("filter:nonsense") == again and again.without_chip("filter:category:toys") == again
    words = again.without_chip("price")  # a chip read from the words is dropped from them, once
    assert words.dropped == ("price",) and words.without_chip("price") == words and words.filters == own
    chinese = shop.search_page(Query(filters=make_filters(categories=["shoes"], review_min=4)), lang="zh")
    assert [c.label for c in chinese.filter_chips] == ["鞋子", "4★ 及以上（按评价）"]


def test_contradicting_prices_in_the_words_read_as_the_range_between_them(shop):
    page = shop.search_page(Query(text="shoes under 50 over 100", k=20))
    assert [c.label for c in page.chips if c.key == "price"] == ["$50–$100"]
    assert page.hits and all(50 <= h.product.price <= 100 for h in page.hits)


def test_filters_alone_browse_best_rated_first_and_nothing_at_all_browses_everything(shop):
    toys = shop.search_page(Query(filters=make_filters(categories=["toys"]), k=10))
    ratings = [h.product.rating for h in toys.hits]
    assert toys.hits and all(h.product.category == "toys" for h in toys.hits) and ratings == sorted(ratings, reverse=True)
    assert toys.summary == f"{sum(p.category == 'toys' for p in shop.engine.lexical.products)} products"
    everything = shop.search_page(Query(k=6))
    assert len(everything.hits) == 6 and everything.summary == f"{len(shop.engine.lexical)} products"
    assert "best-rated" in everything.notices[0]


def test_sort_orders_the_ranked_pool_and_show_more_pages_through_it(shop):
    by_price = shop.search_page(Query(text="gift", sort="price_asc", k=20))
    prices = [h.product.price for h in by_price.hits]
    assert prices == sorted(prices)
    dearest = shop.search_page(Query(text="gift", sort="price_desc", k=5))
    pool = shop.search_page(Query(text="gift", k=100)).hits
    assert [h.product.price for h in dearest.hits] == sorted((h.product.price for h in pool), reverse=True)[:5]
    relevance = shop.search_page(Query(text="gift", k=6))
    more = shop.search_page(Query(text="gift", k=12))
    assert ids(more.hits[:6]) == ids(relevance.hits) and len(more.hits) == 12 and more.has_more
    everything = shop.search_page(Query(text="gift", k=100))
    assert len(everything.hits) == everything.total and not everything.has_more


def test_facet_counts_are_what_a_click_would_show(shop):
    page = shop.search_page(Query(text="gift", filters=make_filters(colours=["blue"])))
    facets = {facet.name: facet for facet in page.facets}
    catalogue = shop.engine.snapshot.products
    assert [v.value for v in facets["colour"].values if v.selected] == ["blue"]
    assert {v.value for v in facets["category"].values} == shop.engine.vocabulary()[1]  # every category selectable
    for value in facets["category"].values:  # among blue products
        assert value.count == sum(p.category == value.value and p.colour == "blue" for p in catalogue)
    red = next(v for v in facets["colour"].values if v.value == "red")  # disjunctive: ignores the blue choice
    assert red.count == sum(p.colour == "red" for p in catalogue)
    for value in [*facets["category"].values, *facets["price"].values][:8]:
        if not value.count:
            continue
        if facets["category"].values and value in facets["category"].values:
            clicked = make_filters(colours=["blue"], categories=[value.value])
        else:
            low, _, high = value.value.partition("-")
            clicked = make_filters(colours=["blue"], price_min=float(low), price_max=float(high) if high else None)
        after = shop.search_page(Query(text="gift", filters=clicked, k=100))
        assert len(after.hits) == min(value.count, 100), value
    lexical = shop.search_page(Query(text="teddy", mode="lexical", k=100))
    matches = shop.engine.lexical.scores("teddy")  # words only: the set is the products sharing a word
    assert sum(v.count for v in {f.name: f for f in lexical.facets}["category"].values) == len(matches) == lexical.total
    assert {h.product.id for h in lexical.hits} == set(matches)


def test_no_results_says_why_offers_a_way_out_and_shows_the_nearest(shop):
    page = shop.search_page(Query(text="red shoes", filters=make_filters(categories=["toys"])), lang="en")
    assert page.hits == [] and page.total == 0 and page.summary == "No results for “red shoes”"
    assert page.relaxations and page.relaxations[0].key == "own:categories"
    assert page.relaxations[0].query.filters.categories == ()
    assert "your category filter (toys)" in page.notices[-1]
    assert page.nearest and all(h.product.category == "shoes" and h.product.colour == "red" for h in page.nearest)
    taken = shop.search_page(page.relaxations[0].query)
    assert ids(taken.hits) == ids(page.nearest)


def test_every_word_of_a_page_follows_the_language(shop):
    english = shop.search_page(Query(text="红色的跑步鞋 100元以下"), lang="en")
    chinese = shop.search_page(Query(text="红色的跑步鞋 100元以下"), lang="zh")
    assert ids(english.hits) == ids(chinese.hits)
    assert [c.label for c in english.chips] == ["≤ $100", "colour: red", "shoes"]
    assert [c.label for c in chinese.chips] == ["≤ $100", "颜色：红色", "鞋子"]
    assert CJK.search(chinese.summary) and not CJK.search(english.summary.replace("红色的跑步鞋 100元以下", ""))
    for facet in chinese.facets:
        assert CJK.search(facet.label)
    browse = shop.search_page(Query(), lang="zh")
    assert all(CJK.search(notice) for notice in browse.notices)
    assert CJK.search(shop.for_you("nobody-yet", lang="zh").note)


def test_every_shopper_facing_error_has_a_chinese_text(shop, tmp_path):
    shop.allow_uploads_from(tmp_path)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    messages = []
    for query in (Query(image=broken), Query(image=empty), Query(image=tmp_path / "missing.png")):
        with pytest.raises(InvalidInputError) as caught:
            shop.search_page(query)
        messages.append(str(caught.value))
    outside = tmp_path.parent / "not-an-upload.png"
    outside.write_bytes(b"")
    with pytest.raises(InvalidInputError, match="did not come from an upload") as caught:
        shop.search_page(Query(image=outside))
    messages.append(str(caught.value))
    with pytest.raises(InvalidInputError) as caught:
        make_filters(price_min=90, price_max=10)
    messages.append(str(caught.value))
    with pytest.raises(InvalidInputError) as caught:
        shop.open_product("no-such-product")
    messages.append(str(caught.value))
    for message in messages:
        assert CJK.search(error_text(message, "zh")), message
    assert all(pattern.pattern for pattern, _ in ERRORS_ZH)


def test_a_search_is_recorded_once_however_it_is_refined(shop):
    shopper = "refiner"
    shop.search_page(Query(text="lamp"), shopper=shopper)
    for refinement in (Query(text="lamp", sort="price_asc"), Query(text="lamp", k=12),
                       Query(text="lamp", filters=make_filters(colours=["black"]))):  # fmt: skip
        shop.search_page(refinement, shopper=shopper)
    shop.search_page(Query(filters=make_filters(categories=["home"])), shopper=shopper)  # browsing: not a search
    shop.search_page(Query(text="teapot"), shopper=shopper)
    assert [(e.kind, e.query) for e in shop.events.history(shopper)] == [("search", "teapot"), ("search", "lamp")]
    for address in ("lamp", "teapot", "lamp"):  # Back, Forward, Back: pages opened from their address
        assert shop.search_page(Query(text=address), shopper=shopper, record=False).hits
    assert [(e.kind, e.query) for e in shop.events.history(shopper)] == [("search", "teapot"), ("search", "lamp")]


def test_opening_carting_and_buying_are_recorded_by_the_engine(shop):
    shopper = "buyer"
    view = shop.open_product("music-violin-red", shopper=shopper)
    assert view.product.id == "music-violin-red" and view.similar and "music-violin-red" not in ids(view.similar)
    shop.act("cart", "music-violin-red", shopper=shopper)
    shop.act("purchase", "music-violin-red", shopper=shopper)
    assert [e.kind for e in shop.events.history(shopper)] == ["purchase", "cart", "view"]
    with pytest.raises(InvalidInputError):
        shop.act("cart", "nothing-here", shopper=shopper)


def test_personalised_pages_say_why(shop):
    shopper = "music-lover"
    for product_id in ("music-violin-red", "music-cello-red"):
        shop.open_product(product_id, shopper=shopper)
    page = shop.search_page(Query(text="red", k=10), shopper=shopper, lang="zh")
    assert page.personalised and page.reasons and all(CJK.search(reason) for reason in page.reasons.values())
    plain = shop.search_page(Query(text="red", k=10), shopper=shopper, personalise=False)
    assert not plain.personalised and plain.reasons == {}


def test_the_review_count_reads_as_a_count():
    item = ReviewItem("r1", 4, "Lovely", "a shopper", "today", 0, "", False, False, False, False)
    assert "· 1 review</p>" in reviews_html(ReviewsView("Liked.", 4.0, 1, [item]), "en")
    assert "· 2 reviews</p>" in reviews_html(ReviewsView("Liked.", 4.0, 2, [item, item]), "en")
    assert "· 1 条评价</p>" in reviews_html(ReviewsView("喜欢。", 4.0, 1, [item]), "zh")


def test_a_pairing_link_carries_only_a_well_formed_code():
    assert pairing_code({"pair": "abcd-efgh"}) == "ABCD-EFGH" and pairing_code({"pair": " ABCD EFGH "}) == "ABCD-EFGH"
    for hostile in ("", "ABCD-EFG", "ABCD-EFGHJ", "ABCD-EF1H", "ABCD-EFG0", "ＡＢＣＤ-ＥＦＧＨ", "١٢٣٤٥٦٧٨", "ß" * 10,
                    "**ABCD**-EFGH<script>", "A" * 10_000):  # 1 and 0 are not in the alphabet; wide and foreign digits
        assert pairing_code({"pair": hostile}) is None, hostile
    assert pairing_code({}) is None


def test_links_carry_the_query_and_its_filters():
    state = LinkState(text="red shoes", negative="leather", categories=["shoes"], colours=["red", "black"], price_min=10,
                      price_max=50.5, rating_min=4, sort="price_asc", dropped=["colour:red"], shown=24, lang="zh",
                      mode="lexical")  # fmt: skip
    again = LinkState.from_params(dict(parse_qsl(state.query_string())))
    assert again == state and "mode=lexical" in state.query_string()
    assert "mode" not in LinkState(text="red shoes").query_string()  # the default stays out of the address
    hostile = LinkState.from_params({"min": "-5", "max": "abc", "sort": "drop tables", "n": "100000", "lang": "fr",
                                     "mode": "everything"})  # fmt: skip
    assert (hostile.price_min, hostile.price_max, hostile.sort, hostile.shown, hostile.lang, hostile.mode) == (
        None, None, "relevance", None, None, "hybrid")  # fmt: skip
    assert Filters(categories=state.categories) == make_filters(categories=["shoes"])


def test_best_reviewed_sort_and_the_by_reviews_facet(shop):
    stats = shop.reviews.stats()
    sorted_page = shop.search_page(Query(text="shoes", sort="reviews", k=10))
    scores = [stats[h.product.id].score if h.product.id in stats else 0.0 for h in sorted_page.hits]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
    page = shop.search_page(Query(text="shoes", filters=make_filters(review_min=4), k=100))
    assert page.hits and all(stats[h.product.id].stars >= 4 for h in page.hits)
    facet = {v.value: v for f in page.facets if f.name == "rating" for v in f.values}["4r"]
    assert facet.selected and facet.count == page.total == sum(
        s.stars is not None and s.stars >= 4 and shop.engine.snapshot.by_id[pid].category == "shoes" for pid, s in stats.items())
    assert "(by reviews)" in facet.label


def test_reviews_feed_the_product_vector_when_the_setting_says_so(shop, bundled_settings):
    from engine.reviews.summary import REVIEW_FEATURES

    assert shop.personal.features.review_dim == len(REVIEW_FEATURES)
    plain = ShopLens(bundled_settings(reviews_in_product_model=False))
    plain.start(speech=False)
    assert plain.personal.features.review_dim == 0
    assert plain.personal.features.matrix.shape[1] == shop.personal.features.matrix.shape[1] - len(REVIEW_FEATURES)


class HeldAnalyser:
    """The real review analyser, held back until the test lets it go: reviews still being read at start-up."""

    def __init__(self, analyser) -> None:
        import threading

        self.analyser, self.go, self.waiting = analyser, threading.Event(), threading.Event()

    def analyse(self, *args, **kwargs):
        self.waiting.set()
        assert self.go.wait(120), "the test never let the analysis go on"
        return self.analyser.analyse(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.analyser, name)


def test_searching_while_the_reviews_are_still_read_at_start_up_does_not_wait_for_them(bundled_settings):
    shop = ShopLens(bundled_settings(top_k=10))
    held = shop.reviews.analyser = HeldAnalyser(shop.reviews.analyser)
    try:
        shop.start(speech=False, background=True)
        assert held.waiting.wait(300)  # indexed; the background thread now reads the reviews
        early = shop.search_page(Query(text="shoes", sort="reviews"), lang="zh")  # answers: no wait for the analysis
        assert early.hits and not shop.status().ready and "正在分析评价" in " ".join(early.notices)
        plain = shop.search_page(Query(text="shoes"))
        assert plain.hits and not any("Reading the reviews" in n for n in plain.notices)  # said only where it matters
        assert shop.reviews.summary(early.hits[0].product.id) is None  # a product's summary line waits too
    finally:
        held.go.set()
    assert shop.wait_until_ready(300)
    stats = shop.reviews.stats()
    later = shop.search_page(Query(text="shoes", sort="reviews"))
    scores = [stats[h.product.id].score if h.product.id in stats else 0.0 for h in later.hits]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
    assert not any("Reading the reviews" in n for n in later.notices)


def test_a_first_start_searches_the_first_indexed_batch_before_the_catalogue_is_done(bundled_settings):
    import threading

    shop = ShopLens(bundled_settings(batch_size=8))
    reached, go, report = threading.Event(), threading.Event(), shop._progress

    def hold_after_the_first_batch(done: int, total: int) -> None:
        report(done, total)
        if done >= 8 and not go.is_set():
            reached.set()
            assert go.wait(120), "the test never let indexing go on"

    shop._progress = hold_after_the_first_batch
    try:
        shop.start(speech=False, background=True)
        assert reached.wait(300)
        early = shop.search_page(Query(text="gift"))
        assert shop.status().indexing[0] == 8 and not shop.status().ready
        assert early.hits and len(shop.engine.snapshot.products) == 8  # the first batch, searchable at once
        assert any("Indexing the catalogue: 8 /" in notice for notice in shop.notices())
    finally:
        go.set()
    assert shop.wait_until_ready(300)
    later = shop.search_page(Query(text="gift"))
    assert len(shop.engine.snapshot.products) > 8 and later.total >= early.total and not shop.notices()
