"""The ShopLens shopper page: Gradio Blocks over :class:`engine.service.ShopLens`. It only renders.

Layout: one search bar on top (words, with photo and voice beside them), the results grid right
under it, filters with facet counts in a collapsible sidebar, "For you" below the results, and the
product in a side panel that does not push the page. Every handler takes the page language first,
calls one engine method and renders what it returns; the engine decides what a search means and
records what the shopper did.
"""

from __future__ import annotations

import functools
import itertools
import logging
import uuid
from html import escape
from typing import Any

import gradio as gr

from demo import api, present
from demo.admin_ui import AdminPanel
from demo.feedback import Refused, friendly
from demo.i18n import label
from demo.reviews_ui import ReviewPanel
from demo.scripts import CLICKS, FORGET_PAIRING_CODE, ON_LOAD, OPEN_FILTERS, REVEAL, SET_URL, TOGGLE
from demo.urls import LinkState, pairing_code
from demo.you_ui import YouPanel
from engine.errors import ShopLensError
from engine.i18n import Lang, language, product_title
from engine.i18n import text as engine_text
from engine.service import ShopLens
from engine.settings import PROJECT_ROOT
from engine.types import MAX_RESULTS, MODES, SORTS, Filters, Page, Query, make_filters

log = logging.getLogger(__name__)

EXAMPLES_DIR = PROJECT_ROOT / "assets" / "examples"
RENDERS = itertools.count(1)


def rendered() -> str:
    """A hidden mark that differs on every render, so a page (and a test) can tell that a search
    answered even when the results are the same as before (searching the same words again)."""
    return f'<span hidden data-render="{next(RENDERS)}"></span>'


# Gradio runs each event on a worker thread. A search spends most of its time in CLIP or Whisper,
# whose torch kernels already use every core, so two searches at a time keep a 2-core machine busy
# while more would only make each one slower; the rest wait in Gradio's queue, in order. Page
# events that do no model work (opening a product, suggestions) are not in this group.
SEARCH_CONCURRENCY = 2
QUEUE_SIZE = 500  # requests waiting beyond this are told the server is busy instead of waiting minutes
STYLE = PROJECT_ROOT / "demo" / "style.css"
THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="pink")
SPOKEN = ("detect", "en", "zh")
TOUR_PERSONAL_VIEWS = ("music-violin-red", "music-acoustic-guitar-red")


def build_ui(shop: ShopLens) -> gr.Blocks:
    top_k = shop.settings.top_k
    with gr.Blocks(title="ShopLens: multimodal product search", elem_id="shoplens") as blocks:
        shopper = gr.BrowserState("", storage_key="shoplens-shopper")
        dropped, shown, first_page, records = gr.State([]), gr.State(top_k), gr.State(top_k), gr.State({})
        relaxations, current = gr.State([]), gr.State("")
        url_state = gr.Textbox(visible=False)

        with gr.Sidebar(open=True, elem_id="filters", width=300):
            filters_title = gr.Markdown(f"### {label('filters', 'en')}")
            categories = gr.CheckboxGroup(label=label("category", "en"), elem_id="filter-category")
            colours = gr.CheckboxGroup(label=label("colour", "en"), elem_id="filter-colour")
            price_band = gr.Radio(label=label("price", "en"), elem_id="filter-price")
            with gr.Row():
                price_min = gr.Number(label=label("price.min", "en"), minimum=0, elem_id="price-min", min_width=80)
                price_max = gr.Number(label=label("price.max", "en"), minimum=0, elem_id="price-max", min_width=80)
            rating = gr.Radio(label=label("rating", "en"), elem_id="filter-rating")
            negative = gr.Textbox(label=label("negative", "en"), placeholder=label("negative.placeholder", "en"),
                                  elem_id="query-negative")  # fmt: skip
            clear = gr.Button(label("clear", "en"), size="sm", elem_id="clear-filters")
            with gr.Accordion(label("options", "en"), open=False) as options:
                mode = gr.Radio([(label(f"mode.{m}", "en"), m) for m in MODES], label=label("mode", "en"), value="hybrid",
                                elem_id="mode")  # fmt: skip
                text_weight = gr.Slider(0, 1, value=0.5, step=0.05, label=label("weight", "en"), elem_id="text-weight")
                personalise = gr.Checkbox(label=label("personalise", "en"), value=True, elem_id="personalise")
                translate = gr.Checkbox(label=label("translate", "en"), value=False, elem_id="translate")

        with gr.Row(elem_id="masthead"):
            masthead = gr.Markdown(_masthead("en"), elem_id="brand")
            lang = gr.Radio([("English", "en"), ("中文", "zh")], value="en", show_label=False, container=False,
                            elem_id="language", min_width=220, scale=0)  # fmt: skip
        banner = gr.Markdown(elem_id="status-banner", visible=False)
        status_timer = gr.Timer(2.0, active=False)
        with gr.Row(elem_id="search-bar", equal_height=True):
            text = gr.Textbox(show_label=False, placeholder=label("query.placeholder", "en"), lines=1, max_lines=2,
                              scale=8, min_width=160, container=False, elem_id="query-text", autofocus=True)  # fmt: skip
            photo_button = gr.Button(label("photo.button", "en"), scale=0, min_width=100, elem_id="photo-button")
            voice_button = gr.Button(label("voice.button", "en"), scale=0, min_width=100, elem_id="voice-button")
            search_button = gr.Button(label("search", "en"), variant="primary", scale=0, min_width=80,
                                      elem_id="search-button")  # fmt: skip
        suggestions = gr.HTML(elem_id="suggestions", js_on_load=CLICKS)
        with gr.Row(elem_id="photo-panel", elem_classes=["sl-panel", "sl-hidden"]):
            image = gr.Image(label=label("photo.label", "en"), sources=["upload", "webcam", "clipboard"], type="filepath",
                             image_mode=None, height=170, elem_id="query-image")  # fmt: skip
        with gr.Row(elem_id="voice-panel", elem_classes=["sl-panel", "sl-hidden"]):
            audio = gr.Audio(label=label("voice.label", "en"), sources=["microphone", "upload"], type="filepath",
                             elem_id="query-audio")  # fmt: skip
            spoken = gr.Radio([(label("spoken.detect", "en"), "detect"), ("English", "en"), ("中文", "zh")], value="detect",
                              label=label("spoken", "en"), elem_id="spoken", min_width=160)  # fmt: skip
        with gr.Row(elem_id="tour"):
            tour_buttons = {step: gr.Button(label(f"tour.{step}", "en"), size="sm", elem_id=f"tour-{step}", min_width=90)
                            for step in ("words", "photo", "voice", "composed", "personal")}  # fmt: skip
        tour_note = gr.Markdown(elem_id="tour-note")

        with gr.Row(elem_id="result-bar", equal_height=True):
            summary = gr.HTML(elem_id="summary", js_on_load=CLICKS)
            filters_button = gr.Button(label("filters", "en"), size="sm", scale=0, min_width=90, elem_id="filters-button")
            sort = gr.Dropdown([(label(f"sort.{s}", "en"), s) for s in SORTS], label=label("sort", "en"), value="relevance",
                               elem_id="sort", scale=0, min_width=200, container=False)  # fmt: skip
        results = gr.HTML(elem_id="results", js_on_load=CLICKS)
        nearest = gr.HTML(elem_id="nearest", js_on_load=CLICKS)
        more = gr.Button(label("more", "en"), visible=False, elem_id="show-more")

        for_you_title = gr.Markdown(f"## {label('for_you', 'en')}", elem_id="for-you-title")
        for_you_note = gr.Markdown(elem_id="for-you-note")
        for_you = gr.HTML(elem_id="for-you", js_on_load=CLICKS)
        with gr.Accordion(label("profile", "en"), open=False, elem_id="profile") as profile_box:
            you = YouPanel(shop)
        admin = AdminPanel(shop) if shop.settings.admin_token else None

        with gr.Column(visible=False, elem_id="detail", elem_classes=["sl-drawer"]) as detail:
            close = gr.Button(label("close", "en"), size="sm", elem_id="detail-close")
            detail_head = gr.HTML(elem_id="detail-head")
            with gr.Row(elem_id="detail-actions"):
                cart = gr.Button(label("cart", "en"), elem_id="add-to-cart", min_width=100)
                buy = gr.Button(label("buy", "en"), variant="primary", elem_id="buy", min_width=100)
                more_like = gr.Button(label("more_like", "en"), elem_id="more-like-this", min_width=100)
            detail_html = gr.HTML(elem_id="detail-text")
            reviews = ReviewPanel(shop)
            similar_title = gr.Markdown(f"### {label('similar', 'en')}")
            similar = gr.HTML(elem_id="similar", js_on_load=CLICKS)
            together_title = gr.Markdown(f"### {label('together', 'en')}")
            together = gr.HTML(elem_id="bought-together", js_on_load=CLICKS)

        # --- handlers -------------------------------------------------------------------------------
        own = [categories, colours, price_min, price_max, rating, negative]
        asked = [text, image, audio, *own, sort, mode, text_weight, spoken, translate, personalise, shopper]
        page_outputs = [summary, results, nearest, more, categories, colours, price_band, price_min, price_max,
                        rating, text, audio, dropped, shown, records, relaxations, url_state, suggestions, negative]  # fmt: skip
        text_at = page_outputs.index(text)

        def run(lang: Lang, query: Query, personalise: bool, shopper: str, typed: str) -> list[Any]:
            page = shop.search_page(query, shopper=shopper, personalise=personalise, lang=lang)
            return render(page, typed)

        def query_of(text_value, image_value, audio_value, category_values, colour_values, low, high, rating_value,
                     negative_value, sort_value, mode_value, weight, spoken_value, translate_value, *,
                     dropped_keys=(), count=top_k) -> Query:  # fmt: skip
            rating_min, review_min = rating_floor(rating_value)
            filters = make_filters(categories=category_values or (), colours=colour_values or (), price_min=low or None,
                                   price_max=high or None, rating_min=rating_min, review_min=review_min)  # fmt: skip
            return Query(
                text=text_value or "", image=present.upload_path(image_value), audio=present.upload_path(audio_value),
                negative=negative_value or "", filters=filters, dropped=tuple(dropped_keys), k=count,
                sort=sort_value if sort_value in SORTS else "relevance", mode=mode_value if mode_value in MODES else "hybrid",
                text_weight=float(weight if weight is not None else 0.5), translate_speech=bool(translate_value),
                speech_language=None if spoken_value in (None, "detect") else spoken_value,
            )  # fmt: skip

        def render(page: Page, typed: str) -> list[Any]:
            lang = page.lang
            facets = {facet.name: facet for facet in page.facets}
            own_filters, query = page.query.filters, page.query
            spoken_words = page.transcript.text if page.transcript else ""
            link = LinkState(
                text=" ".join(filter(None, [typed, spoken_words])), negative=query.negative,
                categories=list(own_filters.categories), colours=list(own_filters.colours), price_min=own_filters.price_min,
                price_max=own_filters.price_max, rating_min=own_filters.rating_min, review_min=own_filters.review_min,
                sort=query.sort,
                dropped=list(query.dropped), shown=query.k if query.k != top_k else None, lang=lang if lang != "en" else None,
                mode=query.mode,
            )  # fmt: skip
            band = next(iter(present.selected(facets["price"])), "any" if own_filters.price_min is None
                        and own_filters.price_max is None else None)  # fmt: skip
            floor = next(iter(present.selected(facets["rating"])), "0")
            return [
                present.header(page) + rendered(), present.hit_cards(page.hits, lang, page.reasons),
                present.hit_cards(page.nearest, lang),
                gr.update(visible=page.has_more, value=f"{label('more', lang)} ({len(page.hits)} / {page.total})"),
                gr.update(choices=present.facet_choices(facets["category"]), value=present.selected(facets["category"])),
                gr.update(choices=present.facet_choices(facets["colour"]), value=present.selected(facets["colour"])),
                gr.update(choices=[(label("price.any", lang), "any"), *present.facet_choices(facets["price"])], value=band),
                own_filters.price_min, own_filters.price_max,
                gr.update(choices=[(label("rating.any", lang), "0"), *present.facet_choices(facets["rating"])], value=floor),
                link.text if page.transcript else gr.update(), None if page.transcript else gr.update(),
                list(query.dropped), query.k or top_k, present.hit_records(page.hits or page.nearest),
                [{"filters": r.query.filters.model_dump(), "dropped": list(r.query.dropped)} for r in page.relaxations],
                link.query_string(), "", query.negative,
            ]  # fmt: skip

        @friendly(len(page_outputs))
        def new_search(lang: Lang, *values: Any) -> list[Any]:
            *query_values, personalise_value, shopper_id = values
            return run(lang, query_of(*query_values), personalise_value, shopper_id, query_values[0] or "")

        @friendly(len(page_outputs))
        def refine(lang: Lang, dropped_keys: list[str], count: int, *values: Any) -> list[Any]:
            *query_values, personalise_value, shopper_id = values
            query = query_of(*query_values, dropped_keys=dropped_keys, count=count)
            return run(lang, query, personalise_value, shopper_id, query_values[0] or "")

        @friendly(len(page_outputs))
        def show_more(lang: Lang, dropped_keys: list[str], count: int, *values: Any) -> list[Any]:
            return refine(lang, dropped_keys, min(count + top_k, MAX_RESULTS), *values)

        @friendly(len(page_outputs))
        def click_page(lang: Lang, event: gr.EventData, dropped_keys: list[str], options: list[dict], *values: Any):
            """A chip removed, or a way out taken; a product card opens through ``open_product``."""
            data = event._data or {}
            *query_values, personalise_value, shopper_id = values
            if "chip" in data:  # read from the words, or one of the shopper's own filters
                query = query_of(*query_values, dropped_keys=dropped_keys).without_chip(str(data["chip"]))
            elif "relax" in data and 0 <= int(data["relax"]) < len(options):
                chosen = options[int(data["relax"])]
                query = query_of(*query_values).model_copy(update={
                    "filters": Filters(**chosen["filters"]), "dropped": tuple(chosen["dropped"])})  # fmt: skip
            else:
                return [gr.update()] * len(page_outputs)
            return run(lang, query, personalise_value, shopper_id, query_values[0] or "")

        def suggest(lang: Lang, typed: str) -> str:
            """Completions under the search bar while the shopper types (nothing once a search runs)."""
            return present.suggestions(shop.suggest(typed or "", k=6) if len((typed or "").strip()) >= 1 else [])

        @friendly(len(page_outputs))
        def pick_suggestion(lang: Lang, event: gr.EventData, *values: Any) -> list[Any]:
            chosen = (event._data or {}).get("suggest", "")
            *query_values, personalise_value, shopper_id = values
            query_values[0] = chosen
            outputs = run(lang, query_of(*query_values), personalise_value, shopper_id, chosen)
            outputs[text_at] = chosen
            return outputs

        @friendly(len(page_outputs))
        def choose_band(lang: Lang, band: str, *values: Any) -> list[Any]:
            low, _, high = (band or "").partition("-")
            *query_values, personalise_value, shopper_id = values
            query_values[5], query_values[6] = (float(low), float(high) if high else None) if band != "any" else (None, None)
            return run(lang, query_of(*query_values), personalise_value, shopper_id, query_values[0] or "")

        @friendly(len(page_outputs))
        def clear_filters(lang: Lang, *values: Any) -> list[Any]:
            *query_values, personalise_value, shopper_id = values
            query_values[3:9] = [[], [], None, None, "0", ""]
            return run(lang, query_of(*query_values), personalise_value, shopper_id, query_values[0] or "")

        @friendly(7)
        def open_product(lang: Lang, shopper_id: str, shown_records: dict, event: gr.EventData):
            product_id = (event._data or {}).get("product")
            if not product_id:
                return [gr.update()] * 7
            view = shop.open_product(product_id, shopper=shopper_id)
            return (gr.update(visible=True), present.product_head(view, lang),
                    present.product_body(view, lang, shown_records.get(product_id)),
                    reviews.show(product_id, shopper_id, lang),
                    present.cards([hit.product for hit in view.similar], lang, row=True),
                    present.cards(view.bought_together, lang, row=True), product_id)  # fmt: skip

        @friendly()
        def act(lang: Lang, product_id: str, shopper_id: str, kind: str) -> None:
            if not product_id:
                raise Refused(label("error.open_first", lang))
            product = shop.act(kind, product_id, shopper=shopper_id)
            gr.Info(engine_text(f"action.{kind}", lang, title=product_title(product, lang)))

        @friendly(5)
        def more_like_this(lang: Lang, product_id: str) -> list[Any]:
            product = shop.product(product_id) if product_id else None
            if product is None:
                raise Refused(label("error.open_first", lang))
            hits = shop.similar(product_id, k=top_k)
            title = escape(f"{label('more_like', lang)}: {product_title(product, lang)}")
            return [f'<h2 class="sl-summary">{title}</h2>', present.hit_cards(hits, lang), present.hit_records(hits),
                    gr.update(visible=False), ""]  # fmt: skip

        @friendly(4)
        def refresh_for_you(lang: Lang, shopper_id: str):
            recommendations = shop.for_you(shopper_id, k=12, lang=lang)
            reasons = {item.product.id: item.reason for item in recommendations.items}
            rows = shop.personal.profile(shopper_id, lang) if shopper_id else []
            return (recommendations.note, present.cards([item.product for item in recommendations.items], lang, reasons, row=True),
                    gr.update(value=rows, headers=label("profile.headers", lang).split("|")),
                    label("you.id", lang).format(id=shopper_id))  # fmt: skip

        def relabel(lang: Lang) -> list[Any]:
            return [
                f"### {label('filters', lang)}", gr.update(label=label("category", lang)), gr.update(label=label("colour", lang)),
                gr.update(label=label("price", lang)), gr.update(label=label("price.min", lang)),
                gr.update(label=label("price.max", lang)), gr.update(label=label("rating", lang)),
                gr.update(label=label("negative", lang), placeholder=label("negative.placeholder", lang)),
                gr.update(value=label("clear", lang)), gr.update(label=label("options", lang)),
                gr.update(label=label("mode", lang), choices=[(label(f"mode.{m}", lang), m) for m in MODES]),
                gr.update(label=label("weight", lang)), gr.update(label=label("personalise", lang)),
                gr.update(label=label("translate", lang)), _masthead(lang),
                gr.update(placeholder=label("query.placeholder", lang)), gr.update(value=label("photo.button", lang)),
                gr.update(value=label("voice.button", lang)), gr.update(value=label("search", lang)),
                gr.update(label=label("photo.label", lang)), gr.update(label=label("voice.label", lang)),
                gr.update(label=label("spoken", lang), choices=[(label("spoken.detect", lang), "detect"), ("English", "en"),
                                                                  ("中文", "zh")]),
                *[gr.update(value=label(f"tour.{step}", lang)) for step in tour_buttons], gr.update(value=label("filters", lang)),
                gr.update(label=label("sort", lang), choices=[(label(f"sort.{s}", lang), s) for s in SORTS]),
                f"## {label('for_you', lang)}", gr.update(label=label("profile", lang)), *you.relabel(lang),
                gr.update(value=label("close", lang)),
                gr.update(value=label("cart", lang)), gr.update(value=label("buy", lang)),
                gr.update(value=label("more_like", lang)), f"### {label('similar', lang)}", f"### {label('together', lang)}",
                *reviews.relabel(lang), *(admin.relabel(lang) if admin else []),
            ]  # fmt: skip

        labelled = [filters_title, categories, colours, price_band, price_min, price_max, rating, negative, clear, options,
                    mode, text_weight, personalise, translate, masthead, text, photo_button, voice_button, search_button,
                    image, audio, spoken, *tour_buttons.values(), filters_button, sort, for_you_title, profile_box,
                    *you.labelled, close, cart, buy, more_like, similar_title, together_title, *reviews.labelled,
                    *(admin.labelled if admin else [])]  # fmt: skip

        @friendly(len(page_outputs) + 4)
        def tour(lang: Lang, shopper_id: str, *values: Any, step: str) -> list[Any]:
            """One step of the guided tour: fill the inputs and run the search live."""
            *query_values, personalise_value, _ = values
            query_values[:3] = ["", None, None]
            query_values[12] = "detect"
            if step == "words":
                query_values[0] = "red running shoes under $100" if lang == "en" else "100元以下的红色跑步鞋"
            elif step == "photo":
                query_values[1] = str(EXAMPLES_DIR / "photo_red_shoe.jpg")
            elif step == "voice":
                query_values[2] = str(EXAMPLES_DIR / "voice_teddy_bear.wav")
            elif step == "composed":
                query_values[0], query_values[1] = "like this, but in red", str(EXAMPLES_DIR / "photo_green_hoodie.jpg")
                query_values[11] = 0.8
            else:
                for product_id in TOUR_PERSONAL_VIEWS:
                    shop.open_product(product_id, shopper=shopper_id)
                query_values[0], personalise_value = "red", True
            typed = query_values[0]
            outputs = run(lang, query_of(*query_values), personalise_value, shopper_id, typed)
            if step != "voice":
                outputs[text_at] = typed
            return [*outputs, query_values[1], query_values[11], personalise_value,
                    label(f"tour.{step}.note", lang)]  # fmt: skip

        # --- wiring ---------------------------------------------------------------------------------
        refresh = dict(fn=refresh_for_you, inputs=[lang, shopper], outputs=[for_you_note, for_you, you.profile, you.identity],
                       api_visibility="private")  # fmt: skip
        set_url = dict(fn=None, inputs=[url_state], outputs=None, js=SET_URL)
        # Uploads reach the engine as Gradio saved them: the engine, not Gradio's preview, decides what a
        # readable picture or recording is (and says so in the shopper's language). Every event that
        # searches shares one concurrency group with the API (see SEARCH_CONCURRENCY).
        searching = dict(concurrency_limit=SEARCH_CONCURRENCY, concurrency_id="search", api_visibility="private",
                         preprocess=False)  # fmt: skip
        for trigger in (search_button.click, text.submit):
            trigger(new_search, [lang, *asked], page_outputs, **searching).then(**set_url).then(**refresh)
        refinements = [sort.input, categories.input, colours.input, rating.input, price_min.submit, price_max.submit,
                       negative.submit, mode.input]  # fmt: skip
        for trigger in refinements:
            trigger(refine, [lang, dropped, first_page, *asked], page_outputs, **searching).then(**set_url)
        more.click(show_more, [lang, dropped, shown, *asked], page_outputs, **searching).then(**set_url)
        text.input(suggest, [lang, text], suggestions, trigger_mode="always_last", show_progress="hidden",
                   api_visibility="private")  # fmt: skip
        suggestions.click(pick_suggestion, [lang, *asked], page_outputs, **searching).then(**set_url).then(**refresh)
        summary.click(click_page, [lang, dropped, relaxations, *asked], page_outputs, **searching).then(**set_url)
        price_band.input(choose_band, [lang, price_band, *asked], page_outputs, **searching).then(**set_url)
        clear.click(clear_filters, [lang, *asked], page_outputs, **searching).then(**set_url)
        detail_outputs = [detail, detail_head, detail_html, reviews.listing, similar, together, current]
        for block in (results, nearest, for_you, similar, together):
            block.click(open_product, [lang, shopper, records], detail_outputs, api_visibility="private").then(**refresh)
        close.click(lambda: gr.update(visible=False), None, detail, api_visibility="private")
        cart.click(functools.partial(act, kind="cart"), [lang, current, shopper], None, api_visibility="private").then(**refresh)
        buy.click(functools.partial(act, kind="purchase"), [lang, current, shopper], None,
                  api_visibility="private").then(**refresh)  # fmt: skip
        more_like.click(more_like_this, [lang, current], [summary, results, records, more, nearest],
                        api_visibility="private")  # fmt: skip
        you.wire(lang, shopper, refresh)
        if admin:
            admin.wire(lang, status_timer)
        reviews.wire(lang, shopper, current)
        filters_button.click(None, js=OPEN_FILTERS)
        for button, upload, panel in ((photo_button, image, "photo-panel"), (voice_button, audio, "voice-panel")):
            button.click(None, [upload], [upload], js=TOGGLE.replace("{panel}", panel))
            upload.change(None, [upload], None, js=REVEAL.replace("{panel}", panel))
        lang.input(relabel, [lang], labelled, api_visibility="private").then(
            refine, [lang, dropped, shown, *asked], page_outputs, **searching).then(**set_url).then(**refresh)  # fmt: skip
        for step, button in tour_buttons.items():
            button.click(functools.partial(tour, step=step), [lang, shopper, *asked],
                         [*page_outputs, image, text_weight, personalise, tour_note], **searching).then(
                **set_url).then(**refresh)  # fmt: skip

        def arrive(shopper_id: str, request: gr.Request) -> list[Any]:
            """First paint: the shopper's id, the language, the search a shared link carries, and a pairing
            code a scanned QR code carries (offered for joining, never joined unasked)."""
            params = dict(request.query_params)
            link = LinkState.from_params(params)
            lang_value = link.lang or language(request.headers.get("accept-language"))
            shopper_id = shopper_id or uuid.uuid4().hex
            try:
                filters = make_filters(categories=link.categories, colours=link.colours, price_min=link.price_min,
                                       price_max=link.price_max, rating_min=link.rating_min, review_min=link.review_min)  # fmt: skip
            except ShopLensError:
                filters = Filters()  # a hand-edited link with, say, min above max: ignore its filters
            query = Query(text=link.text, negative=link.negative, sort=link.sort, dropped=tuple(link.dropped),
                          k=link.shown or top_k, filters=filters, mode=link.mode)  # fmt: skip
            page = shop.search_page(query, shopper=shopper_id, lang=lang_value, record=False)  # opened, not searched
            outputs = render(page, link.text)
            outputs[text_at] = link.text
            offer: tuple[list[Any], list[Any]] = ([], [])
            code = pairing_code(params)
            if code:  # from a scanned QR code: offered, with what joining shares, and joined only on Join
                gr.Warning(label("devices.arrived", lang_value))
                offer = ([profile_box, you.code_in, you.code_text], [gr.update(open=True), code, label("devices.arrived", lang_value)])
            return merged(([shopper, lang, sort, mode], [shopper_id, lang_value, link.sort, link.mode]), (labelled, relabel(lang_value)),
                          (page_outputs, outputs), offer)  # fmt: skip

        def standing(lang_value: Lang) -> list[Any]:
            """The banner of features that are off or indexing under way, and the buttons that still work."""
            status, notices = shop.status(), shop.notices(lang_value)
            return [gr.update(value="\n\n".join(f"⚠️ {notice}" for notice in notices), visible=bool(notices)),
                    gr.Timer(active=not status.ready), gr.update(interactive=status.photo),
                    gr.update(interactive=status.voice), *(admin.status_updates(lang_value) if admin else [])]  # fmt: skip

        standing_outputs = [banner, status_timer, photo_button, voice_button, *(admin.status_outputs if admin else [])]
        arrival_outputs = list(dict.fromkeys([shopper, lang, sort, mode, *labelled, *page_outputs, you.code_in, you.code_text]))
        blocks.load(arrive, [shopper], arrival_outputs, api_visibility="private").then(
            None, js=FORGET_PAIRING_CODE).then(**refresh).then(
            standing, [lang], standing_outputs, api_visibility="private")  # fmt: skip
        status_timer.tick(standing, [lang], standing_outputs, api_visibility="private", show_progress="hidden")
        api.register(shop, concurrency_limit=SEARCH_CONCURRENCY, concurrency_id="search")
    blocks.queue(default_concurrency_limit=8, max_size=QUEUE_SIZE)
    return blocks


def rating_floor(value: str | None) -> tuple[float | None, float | None]:
    """The rating control's value as (catalogue rating floor, review stars floor): "4" or "4r" (by reviews)."""
    if not value or value == "0":
        return None, None
    return (None, float(value[:-1])) if value.endswith("r") else (float(value), None)


def merged(*parts: tuple[list[Any], list[Any]]) -> dict[Any, Any]:
    """One ``{component: update}`` from several (components, values) lists; later ones win per property."""
    updates: dict[Any, dict[str, Any]] = {}
    for components, values in parts:
        for component, value in zip(components, values, strict=True):
            update = value if isinstance(value, dict) and value.get("__type__") == "update" else gr.update(value=value)
            updates[component] = {**updates.get(component, {}), **update}
    return updates


def _masthead(lang: Lang) -> str:
    return f"# {label('title', lang)}\n{label('tagline', lang)}"


def launch_options(shop: ShopLens) -> dict[str, Any]:
    """Keyword arguments for mounting or launching the Blocks: look, served folders, upload limit."""
    largest_upload = max(shop.settings.max_image_bytes, shop.settings.max_audio_bytes)
    return {
        "theme": THEME, "css_paths": [STYLE], "js": ON_LOAD, "allowed_paths": [str(EXAMPLES_DIR)], "mcp_server": True,
        "max_file_size": largest_upload,  # Gradio refuses bigger uploads before they reach the engine
    }  # fmt: skip
