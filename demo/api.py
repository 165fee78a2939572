"""The JSON API and MCP tools: named, typed endpoints for programs (a shop's backend, an AI shopping agent).

Each endpoint calls the same engine method the page calls, so a program gets the same results,
filters read from the words, facets and explanations as a shopper, and its searches are recorded
for the ``shopper`` it names. The docstrings are what an AI assistant reads as tool descriptions.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import gradio as gr
from gradio.data_classes import FileData

from demo import present
from engine.errors import ShopLensError
from engine.i18n import Lang, error_text, language, product_title
from engine.service import ShopLens
from engine.types import MAX_RESULTS, SORTS, Hit, Page, Query, make_filters

MAX_K = 50
log = logging.getLogger(__name__)


def register(shop: ShopLens, *, concurrency_limit: int, concurrency_id: str) -> None:
    """Add the endpoints to the Blocks being built (call inside ``with gr.Blocks()``); they share the
    page's search concurrency group, so programs and shoppers queue together."""
    mcp_results_as_json()
    endpoints = Endpoints(shop)
    for endpoint in (endpoints.search_products, endpoints.get_product, endpoints.similar_products, endpoints.recommend):
        gr.api(endpoint, api_name=endpoint.__name__, concurrency_limit=concurrency_limit, concurrency_id=concurrency_id)


def mcp_results_as_json() -> None:
    """Make Gradio's MCP server write a tool's dict or list result as JSON.

    Gradio (6.x) turns each result into text with ``str()``, a Python repr (single quotes, ``None``),
    which an AI client cannot parse as JSON. The endpoints' results are plain data, so they are
    written with ``json.dumps`` before Gradio's own step; files, if any ever were returned, pass as
    they are. ``tests/test_app.py`` parses the MCP result strictly as JSON, so a Gradio change that
    breaks this shows at once.
    """
    from gradio import mcp
    from gradio_client import utils as client_utils

    original = getattr(getattr(mcp, "GradioMCPServer", None), "postprocess_output_data", None)
    if original is None:
        log.warning("this Gradio has no GradioMCPServer.postprocess_output_data: MCP results stay as Gradio writes them")
        return
    if getattr(original, "writes_json", False):
        return

    def postprocess_output_data(self, data: Any, root_url: str) -> Any:
        written = [_json(item) if isinstance(item, (dict, list)) and not client_utils.is_file_obj_with_meta(item) else item
                   for item in data]  # fmt: skip
        return original(self, written, root_url)

    postprocess_output_data.writes_json = True  # type: ignore[attr-defined]
    mcp.GradioMCPServer.postprocess_output_data = postprocess_output_data  # type: ignore[method-assign]


def _json(data: dict | list) -> str:
    """Strict JSON (a NaN, which JSON cannot hold, is written as null)."""
    try:
        return json.dumps(data, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(json.loads(json.dumps(data), parse_constant=lambda _: None), ensure_ascii=False)


class Endpoints:
    def __init__(self, shop: ShopLens) -> None:
        self.shop = shop

    def search_products(
        self,
        query: str = "",
        image: FileData | None = None,
        audio: FileData | None = None,
        categories: list[str] | None = None,
        colours: list[str] | None = None,
        price_min: float | None = None,
        price_max: float | None = None,
        rating_min: float | None = None,
        exclude: str = "",
        sort: str = "relevance",
        k: int = 12,
        offset: int = 0,
        shopper: str = "",
        lang: str = "en",
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> dict[str, Any]:
        """Search the shop's catalogue by words, a photo, a voice recording, or any mix of them.

        Words may carry filters, in English or Chinese: "red running shoes under $80", "50元以下的玩具",
        "a bag, not leather". With no words, photo or recording, the catalogue is browsed under the
        filters, best rated first. Returns the matching products (best first, each with a short reason
        it matched), the filters understood from the words, facet counts and the total.

        Args:
            query: what the shopper wants, in their own words (English or Chinese). Optional.
            image: a photo of something like what the shopper wants. Optional.
            audio: a voice recording of the shopper asking. Optional.
            categories: only these categories, e.g. ["shoes", "bags"].
            colours: only these colours, e.g. ["red"].
            price_min: lowest price, in the catalogue's currency.
            price_max: highest price, in the catalogue's currency.
            rating_min: lowest average rating, 0 to 5.
            exclude: words the products should not be about, e.g. "leather".
            sort: "relevance" (default), "price_asc", "price_desc" or "rating".
            k: how many products to return, 1 to 50 (default 12).
            offset: how many of the best products to skip, for the next page (default 0).
            shopper: an anonymous id, to personalise the results and remember the search. Optional.
            lang: "en" or "zh": the language of labels, reasons and messages.
        """
        lang_code = language(lang)
        try:
            k, offset = _bounded(k, 1, MAX_K, "k"), _bounded(offset, 0, MAX_RESULTS - 1, "offset")
            if sort not in SORTS:
                raise gr.Error(f"sort must be one of {', '.join(SORTS)}.", print_exception=False)
            filters = make_filters(categories=categories or (), colours=colours or (), price_min=price_min,
                                   price_max=price_max, rating_min=rating_min)  # fmt: skip
            query_ = Query(text=query or "", image=present.upload_path(image), audio=present.upload_path(audio),
                           negative=exclude or "", filters=filters, sort=sort, k=min(offset + k, MAX_RESULTS))  # fmt: skip
            page = self.shop.search_page(query_, shopper=shopper or "", personalise=bool(shopper), lang=lang_code)
        except ShopLensError as error:
            raise gr.Error(error_text(str(error), lang_code), print_exception=False) from None
        return page_json(page, offset, _base_url(request))

    def get_product(self, product_id: str, shopper: str = "", lang: str = "en",
                    request: gr.Request = None) -> dict[str, Any]:  # type: ignore[assignment]  # fmt: skip
        """Everything about one product: names in English and Chinese, price, rating, description, tags,
        and similar products. Records that the shopper looked at it, if a shopper id is given.

        Args:
            product_id: the product's id, as returned by search_products.
            shopper: an anonymous id; the view is remembered for their recommendations. Optional.
            lang: "en" or "zh".
        """
        lang_code = language(lang)
        try:
            view = self.shop.open_product(product_id, shopper=shopper or "")
        except ShopLensError as error:
            raise gr.Error(error_text(str(error), lang_code), print_exception=False) from None
        base = _base_url(request)
        return {
            **product_json(view.product, base, lang_code),
            "description": view.product.description, "description_zh": view.product.description_zh,
            "brand": view.product.brand, "tags": list(view.product.tags),
            "similar": [product_json(hit.product, base, lang_code) for hit in view.similar],
            "bought_together": [product_json(p, base, lang_code) for p in view.bought_together],
        }  # fmt: skip

    def similar_products(self, product_id: str, k: int = 8, lang: str = "en",
                         request: gr.Request = None) -> list[dict[str, Any]]:  # type: ignore[assignment]  # fmt: skip
        """Products that look and read most like one product ("more like this").

        Args:
            product_id: the product's id, as returned by search_products.
            k: how many, 1 to 50 (default 8).
            lang: "en" or "zh".
        """
        lang_code = language(lang)
        try:
            hits = self.shop.similar(product_id, k=_bounded(k, 1, MAX_K, "k"))
        except ShopLensError as error:
            raise gr.Error(error_text(str(error), lang_code), print_exception=False) from None
        base = _base_url(request)
        return [{**product_json(hit.product, base, lang_code), "score": round(hit.score, 4)} for hit in hits]

    def recommend(self, shopper: str, k: int = 12, lang: str = "en",
                  request: gr.Request = None) -> dict[str, Any]:  # type: ignore[assignment]  # fmt: skip
        """Products recommended for one shopper, from what they viewed, carted, bought and searched,
        each with the reason. A new shopper gets popular, highly rated products ("cold": true).

        Args:
            shopper: the shopper's anonymous id.
            k: how many, 1 to 50 (default 12).
            lang: "en" or "zh".
        """
        lang_code = language(lang)
        try:
            found = self.shop.for_you(shopper or "", k=_bounded(k, 1, MAX_K, "k"), lang=lang_code)
        except ShopLensError as error:
            raise gr.Error(error_text(str(error), lang_code), print_exception=False) from None
        base = _base_url(request)
        return {"cold": found.cold, "note": found.note,
                "products": [{**product_json(item.product, base, lang_code), "why": item.reason} for item in found.items]}  # fmt: skip


def page_json(page: Page, offset: int, base: str) -> dict[str, Any]:
    """A results page as JSON: the products of this page, what was understood, facets and totals."""
    lang: Lang = "zh" if page.lang == "zh" else "en"
    shown = (page.hits or page.nearest)[offset:]
    return {
        "products": [hit_json(hit, base, lang, page.reasons.get(hit.product.id)) for hit in shown],
        "nearest_instead": not page.hits and bool(page.nearest),
        "total": page.total,
        "summary": page.summary,
        "transcript": page.transcript.text if page.transcript else None,
        "understood": [{"key": chip.key, "label": chip.label} for chip in page.chips],
        "filters": [{"key": chip.key, "label": chip.label} for chip in page.filter_chips],
        "facets": {facet.name: [{"value": v.value, "label": v.label, "count": v.count, "selected": v.selected}
                                for v in facet.values] for facet in page.facets},  # fmt: skip
        "notices": page.notices,
        "relax": [{"key": r.key, "label": r.label, "count": r.count} for r in page.relaxations],
        "personalised": page.personalised,
    }


def hit_json(hit: Hit, base: str, lang: Lang, reason: str | None) -> dict[str, Any]:
    why = [f"{signal} {value:+.3f}" for signal, value in hit.breakdown.items() if value]
    if hit.matched_words:
        why.append("words: " + ", ".join(hit.matched_words))
    why += list(hit.synonyms) + ([reason] if reason else [])
    return {**product_json(hit.product, base, lang), "score": round(hit.score, 4), "why": "; ".join(why)}


def product_json(product, base: str, lang: Lang) -> dict[str, Any]:
    return {
        "id": product.id, "title": product.title, "title_zh": product.title_zh, "name": product_title(product, lang),
        "price": product.price, "currency": product.currency, "rating": product.rating, "category": product.category,
        "colour": product.colour or None, "image_url": f"{base}{present.image_url(product)}",
    }  # fmt: skip


def _bounded(value: Any, low: int, high: int, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{name} must be a whole number.", print_exception=False) from None
    if not low <= number <= high:
        raise gr.Error(f"{name} must be between {low} and {high}.", print_exception=False)
    return number


def _base_url(request: gr.Request | None) -> str:
    """The address the caller used, so image links work from outside (ends with a slash)."""
    if request is None:
        return "/"
    url = str(request.request.base_url) if getattr(request, "request", None) else str(getattr(request, "base_url", "/"))
    return url if url.endswith("/") else url + "/"
