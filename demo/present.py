"""How products and results read on screen: captions, the detail panel, notices. No Gradio here."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from engine.catalogue import Product
from engine.search import Hit

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CNY": "¥", "JPY": "¥"}


def price_text(product: Product) -> str:
    symbol = CURRENCY_SYMBOLS.get(product.currency)
    return f"{symbol}{product.price:,.2f}" if symbol else f"{product.price:,.2f} {product.currency}"


def rating_text(product: Product) -> str:
    return f"★ {product.rating:.1f}" if product.rating is not None else "not rated yet"


def caption(product: Product) -> str:
    return f"{product.title} · {price_text(product)} · {rating_text(product)}"


def gallery_items(hits: list[Hit]) -> list[tuple[str, str]]:
    return [(str(hit.product.image), caption(hit.product)) for hit in hits]


def detail_markdown(product: Product) -> str:
    lines = [f"## {escape(product.title)}"]
    if product.title_zh:
        lines.append(f"**{escape(product.title_zh)}**")
    facts = [f"**{price_text(product)}**", rating_text(product), product.category.title()]
    facts += [value for value in (product.brand, product.colour) if value]
    lines.append(" · ".join(facts))
    if product.description:
        lines.append(escape(product.description))
    if product.description_zh:
        lines.append(escape(product.description_zh))
    if product.tags:
        lines.append(" ".join(f"`{escape(tag)}`" for tag in product.tags))
    lines.append(f"<sub>Product id {escape(product.id)}</sub>")
    return "\n\n".join(lines)


def result_summary(count: int, notices: list[str]) -> str:
    head = f"**{count} product{'s' if count != 1 else ''} found.**" if count else "**No products found.**"
    return "\n\n".join([head, *(f"ℹ️ {escape(notice)}" for notice in notices)])


def upload_path(value: Any) -> Path | None:
    """The server-side path of an upload, whether Gradio passed a path or its raw file payload."""
    if value is None or value == "":
        return None
    if isinstance(value, (str, Path)):
        return Path(value)
    if isinstance(value, dict):
        path = value.get("path")
        return Path(path) if path else None
    path = getattr(value, "path", None)
    return Path(path) if path else None
