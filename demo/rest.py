"""Plain JSON over HTTP for programs that do not speak Gradio's queue protocol (curl, a shop's backend).

``POST /api/search_products`` takes a JSON object with the same named fields as the Gradio endpoint
(all optional), and ``GET /api/products/{id}``, ``/api/products/{id}/similar`` and ``/api/recommend``
the same parameters as query strings. Each answers in one response with the same JSON as
:mod:`demo.api` (which it calls), or with status 400 and ``{"error": "..."}`` written for a person.
Photos and recordings are files: send them through a Gradio client (``handle_file``), which uploads
them first. Searches share the page's concurrency limit, so programs cannot crowd out shoppers.
"""

from __future__ import annotations

import threading
from typing import Any

import gradio as gr
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from demo.api import MAX_K, Endpoints
from engine.service import ShopLens


class SearchRequest(BaseModel):
    """The body of ``POST /api/search_products``: words and filters (files go through a Gradio client)."""

    model_config = ConfigDict(extra="forbid")

    query: str = ""
    categories: list[str] = Field(default_factory=list)
    colours: list[str] = Field(default_factory=list)
    price_min: float | None = None
    price_max: float | None = None
    rating_min: float | None = None
    exclude: str = ""
    sort: str = "relevance"
    k: int = 12
    offset: int = 0
    shopper: str = ""
    lang: str = "en"


def router(shop: ShopLens, *, concurrency_limit: int) -> APIRouter:
    endpoints = Endpoints(shop)
    slots = threading.BoundedSemaphore(concurrency_limit)
    api = APIRouter(prefix="/api")

    def answer(call, *args, **kwargs) -> Any:
        with slots:
            try:
                return call(*args, **kwargs)
            except gr.Error as error:  # the endpoint's message for a person: bad input, unknown product, ...
                return JSONResponse({"error": error.message}, status_code=400)

    @api.post("/search_products")
    def search_products(body: SearchRequest, request: Request) -> Any:
        return answer(endpoints.search_products, **body.model_dump(), request=request)

    @api.get("/products/{product_id}")
    def get_product(product_id: str, request: Request, shopper: str = "", lang: str = "en") -> Any:
        return answer(endpoints.get_product, product_id, shopper=shopper, lang=lang, request=request)

    @api.get("/products/{product_id}/similar")
    def similar_products(product_id: str, request: Request, k: int = 8, lang: str = "en") -> Any:
        return answer(endpoints.similar_products, product_id, k=k, lang=lang, request=request)

    @api.get("/recommend")
    def recommend(shopper: str, request: Request, k: int = 12, lang: str = "en") -> Any:
        return answer(endpoints.recommend, shopper, k=min(k, MAX_K), lang=lang, request=request)

    return api
