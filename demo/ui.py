"""The ShopLens web app: Gradio Blocks over :class:`engine.service.ShopLens`. UI only, no model code."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from demo import present
from engine.errors import ShopLensError
from engine.search import Query, make_filters
from engine.service import ShopLens
from engine.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

EXAMPLES_DIR = PROJECT_ROOT / "assets" / "examples"
INTRO = (
    "# ShopLens\n"
    "Find products by **typing**, by **photo** or by **voice** — or combine them. "
    "Click a result for details and similar items."
)
CSS = """
#results .caption-label { white-space: normal; }
#detail-image img { object-fit: contain; }
"""
THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="pink")


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
    def search(text: str, image: Any, audio: Any, categories: list[str] | None,
               price_min: float | None, price_max: float | None):  # fmt: skip
        # Gradio's number boxes send 0 when left empty; a price bound of 0 means "any" here.
        filters = make_filters(categories=categories or (), price_min=price_min or None, price_max=price_max or None)
        query = Query(text=text or "", image=present.upload_path(image), audio=present.upload_path(audio), filters=filters)
        result = shop.search(query)
        transcript = result.transcript.text if result.transcript else ""
        summary = present.result_summary(len(result.hits), result.notices)
        return present.gallery_items(result.hits), transcript, summary, [hit.product.id for hit in result.hits]

    @friendly
    def show_detail(product_ids: list[str], event: gr.SelectData):
        if not product_ids or event.index is None or event.index >= len(product_ids):
            return gr.update(), gr.update(), gr.update(), gr.update(), gr.update()
        product_id = product_ids[event.index]
        product = shop.product(product_id)
        if product is None:
            raise gr.Error("That product is no longer in the catalogue.")
        similar = shop.similar(product_id, k=8)
        return (
            gr.update(visible=True), str(product.image), present.detail_markdown(product),
            present.gallery_items(similar), [hit.product.id for hit in similar],
        )  # fmt: skip

    with gr.Blocks(title="ShopLens: multimodal product search") as blocks:
        gr.Markdown(INTRO)
        hit_ids = gr.State([])
        similar_ids = gr.State([])
        with gr.Row():
            with gr.Column(scale=2):
                text = gr.Textbox(label="Describe what you want", placeholder="e.g. red running shoes", lines=1,
                                  max_lines=3, elem_id="query-text")  # fmt: skip
                with gr.Row():
                    image = gr.Image(label="Photo", sources=["upload", "webcam"], type="filepath", image_mode=None,
                                     height=220, elem_id="query-image")  # fmt: skip
                    audio = gr.Audio(label="Voice", sources=["microphone", "upload"], type="filepath",
                                     elem_id="query-audio")  # fmt: skip
            with gr.Column(scale=1):
                with gr.Accordion("Filters", open=True):
                    categories = gr.Dropdown(choices=shop.categories(), multiselect=True, label="Category")
                    with gr.Row():
                        price_min = gr.Number(label="Min price", info="0 = any", elem_id="price-min")
                        price_max = gr.Number(label="Max price", info="0 = any", elem_id="price-max")
                button = gr.Button("Search", variant="primary", elem_id="search-button")
                transcript = gr.Textbox(label="You said", interactive=False, elem_id="transcript")
                summary = gr.Markdown(elem_id="summary")
        gallery = gr.Gallery(label="Results", columns=6, height="auto", allow_preview=False, object_fit="contain",
                             elem_id="results")  # fmt: skip
        with gr.Column(visible=False, elem_id="detail") as detail:
            with gr.Row():
                detail_image = gr.Image(label="Product", interactive=False, height=360, elem_id="detail-image")
                detail_text = gr.Markdown(elem_id="detail-text")
            similar = gr.Gallery(label="Similar products", columns=8, height=220, allow_preview=False,
                                 object_fit="contain", elem_id="similar")  # fmt: skip

        inputs = [text, image, audio, categories, price_min, price_max]
        outputs = [gallery, transcript, summary, hit_ids]
        for trigger in (button.click, text.submit):
            trigger(search, inputs, outputs, api_name="search" if trigger == button.click else False,
                    preprocess=False, concurrency_limit=2)  # fmt: skip
        detail_outputs = [detail, detail_image, detail_text, similar, similar_ids]
        gallery.select(show_detail, [hit_ids], detail_outputs, api_visibility="private")
        similar.select(show_detail, [similar_ids], detail_outputs, api_visibility="private")
        _examples(text, image, audio)
    return blocks


def _examples(text: gr.Textbox, image: gr.Image, audio: gr.Audio) -> None:
    """Example queries shipped in ``assets/examples``: words, photos, voice clips."""
    with gr.Row(equal_height=True):
        gr.Examples([["red running shoes"], ["cosy knit jumper"], ["wooden toy train"], ["小提琴"]], [text],
                    label="Try typing")  # fmt: skip
        gr.Examples([[str(path)] for path in sorted(EXAMPLES_DIR.glob("photo_*.jpg"))], [image], label="Try a photo")
        gr.Examples([[str(path)] for path in sorted(EXAMPLES_DIR.glob("voice_*.wav"))], [audio], label="Try a voice clip")


def launch_options(shop: ShopLens) -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch``: look, served folders, address."""
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
