"""How products and results read on screen: captions, the detail panel, notices. No Gradio here."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Any

from engine.catalogue.products import Product
from engine.types import Hit, Query, SearchResult

SIGNALS = {"image": "image similarity", "text": "text similarity", "lexical": "word match", "negative": "unwanted words",
           "personal": "your taste"}

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CNY": "¥", "JPY": "¥"}


def price_text(product: Product) -> str:
    symbol = CURRENCY_SYMBOLS.get(product.currency)
    return f"{symbol}{product.price:,.2f}" if symbol else f"{product.price:,.2f} {product.currency}"


def rating_text(product: Product) -> str:
    return f"★ {product.rating:.1f}" if product.rating is not None else "not rated yet"


def caption(product: Product) -> str:
    return f"{product.title} · {price_text(product)} · {rating_text(product)}"


def gallery_items(hits: list[Hit], reasons: dict[str, str] | None = None) -> list[tuple[str, str]]:
    reasons = reasons or {}
    return [(str(hit.product.image), " · ".join(filter(None, [caption(hit.product), reasons.get(hit.product.id)])))
            for hit in hits]  # fmt: skip


def modality(query: Query) -> str:
    """How a search was asked, for the event log: text, photo, voice or a combination."""
    parts = [name for name, given in (("text", query.text.strip()), ("photo", query.image), ("voice", query.audio)) if given]
    return "+".join(parts) or "filters"


def highlight(text: str, words: tuple[str, ...] | list[str]) -> str:
    """HTML-escaped ``text`` with the matched query words marked."""
    safe = escape(text)
    for word in sorted(set(words), key=len, reverse=True):
        pattern = re.escape(escape(word))
        boundary = r"" if re.search(r"[\u3400-\u9fff]", word) else r"\b"
        safe = re.sub(rf"{boundary}({pattern}\w*)", r"<mark>\1</mark>", safe, flags=re.I)
    return safe


def detail_markdown(product: Product, words: tuple[str, ...] | list[str] = ()) -> str:
    lines = [f"## {highlight(product.title, words)}"]
    if product.title_zh:
        lines.append(f"**{highlight(product.title_zh, words)}**")
    facts = [f"**{price_text(product)}**", rating_text(product), product.category.title()]
    facts += [value for value in (product.brand, product.colour) if value]
    lines.append(" · ".join(facts))
    if product.description:
        lines.append(highlight(product.description, words))
    if product.description_zh:
        lines.append(highlight(product.description_zh, words))
    if product.tags:
        lines.append(" ".join(f"`{escape(tag)}`" for tag in product.tags))
    lines.append(f"<sub>Product id {escape(product.id)}</sub>")
    return "\n\n".join(lines)


def explanation(hit: dict[str, Any]) -> str:
    """"Why this result": each signal's share of the score (they add up), matched words, filters."""
    rows = ["### Why this result", "| signal | value | adds |", "|---|---|---|"]
    for key, label in SIGNALS.items():
        part = hit["breakdown"].get(key, 0.0)
        if key in ("image", "text"):
            value = f"cos {hit['similarity'].get(key, 0.0):.3f}"
        elif key == "lexical":
            value = ", ".join(f"<mark>{escape(w)}</mark>" for w in hit["words"]) or "no shared words"
        elif key == "personal":
            if key not in hit["breakdown"]:
                continue
            value = "learned from your events"
        else:
            value = "contains an unwanted word" if part else "none"
        rows.append(f"| {label} | {value} | {part:+.3f} |")
    rows.append(f"| **score** | found by {', '.join(hit['matched']) or 'filters'} | **{hit['score']:.3f}** |")
    if hit.get("filters"):
        rows.append(f"\nFilters applied: {escape(' · '.join(hit['filters']))}")
    return "\n".join(rows)


def hit_records(result_hits: list[Hit], filters: list[str]) -> list[dict[str, Any]]:
    """What the detail panel needs to explain each hit later (kept in the browser session)."""
    return [
        {"id": hit.product.id, "score": hit.score, "breakdown": hit.breakdown, "similarity": hit.similarity,
         "matched": list(hit.matched), "words": list(hit.matched_words), "filters": filters}
        for hit in result_hits
    ]  # fmt: skip


def filter_chips(result: SearchResult) -> list[str]:
    """The filters in force, as the shopper would say them."""
    applied = result.filters
    chips = []
    if applied.price_min is not None or applied.price_max is not None:
        low = f"{applied.price_min:g}" if applied.price_min is not None else "0"
        high = f"{applied.price_max:g}" if applied.price_max is not None else "any"
        chips.append(f"price {low}–{high}")
    chips += [f"colour: {c}" for c in applied.colours] + [f"category: {c}" for c in applied.categories]
    if applied.rating_min is not None:
        chips.append(f"rating ≥ {applied.rating_min:g}")
    if result.understood:
        chips += [f"not: {n}" for n in result.understood.negatives]
    return chips


def result_summary(result: SearchResult) -> str:
    count = result.total
    head = f"**{count} product{'s' if count != 1 else ''} found.**" if result.hits else "**No products found.**"
    lines = [head]
    if result.understood and result.understood.phrases:
        lines.append("Understood from your words: " + " ".join(f"`{escape(c)}`" for c in result.understood.chips())
                     + " (edit them in the filters)")  # fmt: skip
    for name, counts in result.facets.items():
        if counts:
            lines.append(f"**{name.title()}**: " + " · ".join(f"{escape(value)} ({n})" for value, n in counts.items()))
    lines += [f"ℹ️ {escape(notice)}" for notice in result.notices]
    return "\n\n".join(lines)


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
