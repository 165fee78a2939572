"""The ShopLens web app: Gradio Blocks over :class:`engine.service.ShopLens`. UI only, no model code."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from demo import present
from engine.errors import ShopLensError
from engine.service import ShopLens
from engine.settings import PROJECT_ROOT
from engine.types import Query, make_filters

log = logging.getLogger(__name__)

EXAMPLES_DIR = PROJECT_ROOT / "assets" / "examples"
INTRO = (
    "# ShopLens\n"
    "Find products by **typing**, by **photo** or by **voice**, or combine them: a photo plus "
    "*\"in red\"*. Say a price (*\"under $50\"*, *\"50元以下\"*) or a colour and it becomes a filter. "
    "Click a result for details, why it matched, and similar items."
)
CSS = """
#results .caption-label { white-space: normal; }
#detail-image img { object-fit: contain; }
mark { background: #fde68a; padding: 0 2px; border-radius: 3px; }
"""
THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="pink")
MODES = {"Hybrid (words + vectors)": "hybrid", "Vectors only": "vector", "Words only (BM25)": "lexical"}
SPOKEN = {"Detect": None, "English": "en", "中文": "zh"}


def friendly(fn: Callable) -> Callable:
    """Engine errors become a message the shopper can act on; anything unexpected is logged, not shown."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except ShopLensError as error:
            log.info("%s refused: %s", fn.__name__, error)
            raise gr.Error(str(error), title="Cannot search with that", print_exception=False) from None
        except Exception:
            log.exception("unexpected failure in %s", fn.__name__)
            raise gr.Error("Something went wrong on our side; please try again.", print_exception=False) from None

    return wrapper


def build_ui(shop: ShopLens) -> gr.Blocks:
    """The Blocks app; the ``search`` endpoint is public under "Use via API"."""

    @friendly
    def search(text: str, image: Any, audio: Any, categories: list[str] | None, price_min: float | None,
               price_max: float | None, colours: list[str] | None = None, rating_min: float | None = None,
               negative: str = "", text_weight: float = 0.5, mode: str = "Hybrid (words + vectors)",
               translate: bool = False, spoken: str = "Detect", shopper: str = "", personalise: bool = False):  # fmt: skip
        # Gradio's number boxes send 0 when left empty; a bound of 0 means "any" here.
        filters = make_filters(categories=categories or (), colours=colours or (), price_min=price_min or None,
                               price_max=price_max or None, rating_min=rating_min or None)  # fmt: skip
        query = Query(
            text=text or "", image=present.upload_path(image), audio=present.upload_path(audio), filters=filters,
            negative=negative or "", text_weight=float(text_weight if text_weight is not None else 0.5),
            mode=MODES.get(mode, mode if mode in MODES.values() else "hybrid"), translate_speech=bool(translate),
            speech_language=SPOKEN.get(spoken),
        )  # fmt: skip
        result = shop.search(query)
        reasons: dict[str, str] = {}
        if personalise and shopper:
            reranked, reasons = shop.personal.rerank(shopper, result.pool)
            result.hits = reranked[: len(result.hits)]
        shop.personal.record(shopper, "search", query=" ".join(filter(None, [text, result.transcript.text if
                             result.transcript else ""])) or None, modality=present.modality(query))  # fmt: skip
        applied, chips = result.filters, present.filter_chips(result)
        understood_text = result.understood.text if result.understood and (text or "").strip() else text
        return (
            present.gallery_items(result.hits, reasons), result.transcript.text if result.transcript else "",
            present.result_summary(result), present.hit_records(result.hits, chips),
            understood_text, list(applied.categories), list(applied.colours),
            applied.price_min or 0, applied.price_max or 0,
        )  # fmt: skip

    @friendly
    def show_detail(records: list[dict], shopper: str, event: gr.SelectData):
        if not records or event.index is None or event.index >= len(records):
            return (gr.update(),) * 8
        record = records[event.index]
        product = shop.product(record["id"])
        if product is None:
            raise gr.Error("That product is no longer in the catalogue.")
        shop.personal.record(shopper, "view", product_id=product.id)
        similar = shop.similar(product.id, k=8)
        together = [(str(p.image), present.caption(p)) for p in shop.personal.bought_together(product.id)]
        return (
            gr.update(visible=True), str(product.image), present.detail_markdown(product, record.get("words", ())),
            present.explanation(record) if "breakdown" in record else "", present.gallery_items(similar),
            present.hit_records(similar, []), product.id, together,
        )  # fmt: skip

    @friendly
    def act(kind: str, product_id: str, shopper: str):
        product = shop.product(product_id) if product_id else None
        if product is None:
            raise gr.Error("Open a product first.")
        shop.personal.record(shopper, kind, product_id=product_id)
        gr.Info(f"{'Added to your cart' if kind == 'cart' else 'Bought'}: {product.title}")

    @friendly
    def for_you(shopper: str):
        suggestions, cold = shop.personal.for_you(shopper, k=12)
        note = ("**For you.** Popular and highly rated right now; view, cart or buy a few products and this row "
                "learns your taste." if cold else "**For you**, from what you viewed, carted, bought and searched.")  # fmt: skip
        items = [(str(s.product.image), f"{present.caption(s.product)} · {s.reason}") for s in suggestions]
        return note, items, [{"id": s.product.id} for s in suggestions], shop.personal.profile(shopper)

    @friendly
    def forget(shopper: str, event_id: float | None):
        if not event_id or not shop.events.forget(shopper, int(event_id)):
            raise gr.Error("Pick an event id from the table to forget.")
        gr.Info(f"Forgot event {int(event_id)}.")

    @friendly
    def forget_me(shopper: str):
        removed = shop.events.forget_shopper(shopper)
        gr.Info(f"Deleted all {removed} of your events.")

    @friendly
    def more_like_this(product_id: str):
        product = shop.product(product_id)
        if product is None:
            raise gr.Error("That product is no longer in the catalogue.")
        found = shop.similar(product_id, k=shop.settings.top_k)
        return present.gallery_items(found), f"**More like {product.title}.**", present.hit_records(found, [])

    with gr.Blocks(title="ShopLens: multimodal product search") as blocks:
        gr.Markdown(INTRO)
        shopper = gr.BrowserState("", storage_key="shoplens-shopper")
        for_you_note = gr.Markdown(elem_id="for-you-note")
        for_you_gallery = gr.Gallery(label="For you", columns=8, height=300, allow_preview=False,
                                     object_fit="contain", elem_id="for-you")  # fmt: skip
        for_you_hits = gr.State([])
        hits = gr.State([])
        similar_hits = gr.State([])
        current = gr.State("")
        with gr.Row():
            with gr.Column(scale=2):
                text = gr.Textbox(label="Describe what you want", placeholder="e.g. red running shoes under $80",
                                  lines=1, max_lines=3, elem_id="query-text")  # fmt: skip
                with gr.Row():
                    image = gr.Image(label="Photo", sources=["upload", "webcam"], type="filepath", image_mode=None,
                                     height=220, elem_id="query-image")  # fmt: skip
                    audio = gr.Audio(label="Voice", sources=["microphone", "upload"], type="filepath",
                                     elem_id="query-audio")  # fmt: skip
                with gr.Row():
                    negative = gr.Textbox(label="Not", placeholder="e.g. leather", scale=1, elem_id="query-negative")
                    text_weight = gr.Slider(0, 1, value=0.5, step=0.05, scale=2, elem_id="text-weight",
                                            label="How much the words change the photo")  # fmt: skip
            with gr.Column(scale=1):
                with gr.Accordion("Filters", open=True):
                    categories = gr.Dropdown(choices=shop.categories(), multiselect=True, label="Category",
                                             elem_id="filter-category")  # fmt: skip
                    colours = gr.Dropdown(choices=shop.colours(), multiselect=True, label="Colour", elem_id="filter-colour")
                    with gr.Row():
                        price_min = gr.Number(label="Min price", info="0 = any", elem_id="price-min")
                        price_max = gr.Number(label="Max price", info="0 = any", elem_id="price-max")
                    rating_min = gr.Slider(0, 5, value=0, step=0.5, label="Minimum rating", elem_id="rating-min")
                with gr.Accordion("Options", open=False):
                    mode = gr.Radio(list(MODES), value="Hybrid (words + vectors)", label="Ranking")
                    spoken = gr.Radio(list(SPOKEN), value="Detect", label="Spoken language")
                    translate = gr.Checkbox(label="Translate speech to English", value=False)
                personalise = gr.Checkbox(label="Personalise results for me", value=True, elem_id="personalise")
                button = gr.Button("Search", variant="primary", elem_id="search-button")
                transcript = gr.Textbox(label="You said", interactive=False, elem_id="transcript")
        summary = gr.Markdown(elem_id="summary")
        gallery = gr.Gallery(label="Results", columns=6, height="auto", allow_preview=False, object_fit="contain",
                             elem_id="results")  # fmt: skip
        with gr.Column(visible=False, elem_id="detail") as detail:
            with gr.Row():
                detail_image = gr.Image(label="Product", interactive=False, height=360, elem_id="detail-image")
                with gr.Column():
                    detail_text = gr.Markdown(elem_id="detail-text")
                    with gr.Row():
                        cart = gr.Button("Add to cart", elem_id="add-to-cart")
                        buy = gr.Button("Buy", variant="primary", elem_id="buy")
                        more = gr.Button("More like this", elem_id="more-like-this")
                    why = gr.Markdown(elem_id="why")
            similar = gr.Gallery(label="Similar products", columns=8, height=220, allow_preview=False,
                                 object_fit="contain", elem_id="similar")  # fmt: skip
            together = gr.Gallery(label="Bought together", columns=8, height=220, allow_preview=False,
                                  object_fit="contain", elem_id="bought-together")  # fmt: skip
        with gr.Accordion("Your profile: the events behind your recommendations", open=False, elem_id="profile"):
            profile = gr.Dataframe(headers=["event", "kind", "product or query", "age", "weight"], interactive=False,
                                   elem_id="profile-table")  # fmt: skip
            with gr.Row():
                event_id = gr.Number(label="Event to forget", precision=0, elem_id="forget-id")
                forget_button = gr.Button("Forget this", elem_id="forget-one")
                forget_all = gr.Button("Forget me", variant="stop", elem_id="forget-me")

        inputs = [text, image, audio, categories, price_min, price_max, colours, rating_min, negative, text_weight,
                  mode, translate, spoken, shopper, personalise]  # fmt: skip
        outputs = [gallery, transcript, summary, hits, text, categories, colours, price_min, price_max]
        refresh = dict(fn=for_you, inputs=[shopper], outputs=[for_you_note, for_you_gallery, for_you_hits, profile],
                       api_visibility="private")  # fmt: skip
        for trigger in (button.click, text.submit):
            trigger(search, inputs, outputs, api_name="search" if trigger == button.click else False,
                    preprocess=False, concurrency_limit=2).then(**refresh)  # fmt: skip
        detail_outputs = [detail, detail_image, detail_text, why, similar, similar_hits, current, together]
        for source, records in ((gallery, hits), (similar, similar_hits), (for_you_gallery, for_you_hits)):
            source.select(show_detail, [records, shopper], detail_outputs, api_visibility="private").then(**refresh)
        more.click(more_like_this, [current], [gallery, summary, hits], api_visibility="private")
        cart.click(functools.partial(act, "cart"), [current, shopper], None, api_visibility="private").then(**refresh)
        buy.click(functools.partial(act, "purchase"), [current, shopper], None, api_visibility="private").then(**refresh)
        forget_button.click(forget, [shopper, event_id], None, api_visibility="private").then(**refresh)
        forget_all.click(forget_me, [shopper], None, api_visibility="private").then(**refresh)
        blocks.load(lambda current_id: current_id or uuid.uuid4().hex, [shopper], [shopper],
                    api_visibility="private").then(**refresh)  # fmt: skip
        _examples(text, image, audio)
    return blocks


def _examples(text: gr.Textbox, image: gr.Image, audio: gr.Audio) -> None:
    """Example queries shipped in ``assets/examples``: words, photos, voice clips."""
    with gr.Row(equal_height=True):
        gr.Examples([["red running shoes under $100"], ["cosy knit jumper, not black"], ["跑步鞋"], ["50元以下的玩具"]],
                    [text], label="Try typing")  # fmt: skip
        gr.Examples([[str(path)] for path in sorted(EXAMPLES_DIR.glob("photo_*.jpg"))], [image], label="Try a photo")
        gr.Examples([[str(path)] for path in sorted(EXAMPLES_DIR.glob("voice_*.wav"))], [audio], label="Try a voice clip")


def launch_options(shop: ShopLens) -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch``: look, served folders, upload limit, address."""
    catalogue_root = Path(shop.settings.catalog).expanduser().resolve().parent
    largest_upload = max(shop.settings.max_image_bytes, shop.settings.max_audio_bytes)
    options: dict[str, Any] = {
        "theme": THEME, "css": CSS, "allowed_paths": [str(catalogue_root), str(EXAMPLES_DIR)],
        "max_file_size": largest_upload,  # Gradio refuses bigger uploads before they reach the engine
    }  # fmt: skip
    if shop.settings.host:
        options["server_name"] = shop.settings.host
    if shop.settings.port:
        options["server_port"] = shop.settings.port
    return options
