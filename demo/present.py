"""How engine results read on screen: HTML for cards, chips, notices and the product panel.

Pure functions from engine types to escaped HTML strings (no Gradio here), so what the page shows
is tested without a browser. Clickable pieces carry ``data-*`` attributes that the page's script
turns into events: ``data-product`` (open a product), ``data-chip`` (remove a chip) and
``data-relax`` (drop a filter when nothing matched).
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from demo.i18n import label
from engine.catalogue.products import Product
from engine.i18n import Lang, category_label, colour_label, money, product_title, text
from engine.types import Chip, Facet, Hit, Page, ProductView

SIGNALS = ("image", "text", "lexical", "negative", "personal")


def image_url(product: Product) -> str:
    """Where the page fetches a product's picture (served by :mod:`demo.server`, by product id only)."""
    return f"img/{quote(product.id, safe='')}"


def price_text(product: Product) -> str:
    return money(product.price, product.currency)


def rating_html(product: Product, lang: Lang) -> str:
    if product.rating is None:
        return f'<span class="sl-rating sl-muted">{escape(text("rating.none", lang))}</span>'
    return f'<span class="sl-rating" aria-label="{product.rating:.1f} / 5">★ {product.rating:.1f}</span>'


def card(product: Product, lang: Lang, reason: str = "") -> str:
    """One result card; every card has the same size whatever else is on the page."""
    title = product_title(product, lang)
    note = f'<span class="sl-reason">{escape(reason)}</span>'  # always there, so every card has one height
    return (
        f'<button type="button" class="sl-card" data-product="{escape(product.id)}" title="{escape(title)}">'
        f'<span class="sl-thumb"><img src="{image_url(product)}" alt="{escape(title)}" loading="lazy"></span>'
        f'<span class="sl-title">{escape(title)}</span>'
        f'<span class="sl-meta"><b class="sl-price">{escape(price_text(product))}</b>{rating_html(product, lang)}</span>'
        f"{note}</button>"
    )


def cards(products: list[Product], lang: Lang, reasons: dict[str, str] | None = None, *, row: bool = False) -> str:
    """A grid of cards (or one scrolling row); empty string when there is nothing to show."""
    if not products:
        return ""
    reasons = reasons or {}
    body = "".join(card(p, lang, reasons.get(p.id, "")) for p in products)
    return f'<div class="{"sl-row" if row else "sl-grid"}">{body}</div>'


def hit_cards(hits: list[Hit], lang: Lang, reasons: dict[str, str] | None = None) -> str:
    return cards([hit.product for hit in hits], lang, reasons)


def chips(page_chips: list[Chip], lang: Lang, kind: str = "sl-chip") -> str:
    """Filters, each with a remove button: read from the words (``sl-chip``) or the shopper's own
    (``sl-filter-chip``, after a "Filters:" label)."""
    if not page_chips:
        return ""
    remove = "删除" if lang == "zh" else "Remove"
    items = "".join(
        f'<button type="button" class="{kind}" data-chip="{escape(chip.key)}" aria-label="{remove}: {escape(chip.label)}">'
        f'{escape(chip.label)} <span aria-hidden="true">×</span></button>'
        for chip in page_chips
    )  # fmt: skip
    if kind == "sl-filter-chip":
        items = f'<span class="sl-chips-label">{escape(label("filters", lang))}{"：" if lang == "zh" else ":"}</span>{items}'
    return f'<div class="sl-chips">{items}</div>'


def suggestions(texts: list[str]) -> str:
    """Completions offered under the search bar; empty when there are none."""
    if not texts:
        return ""
    items = "".join(f'<button type="button" class="sl-suggestion" data-suggest="{escape(t)}">{escape(t)}</button>' for t in texts)
    return f'<div class="sl-suggestions" role="listbox">{items}</div>'


def header(page: Page) -> str:
    """The shopper's own filters and the chips read from the words, the summary line, the notices, and
    the ways out when nothing matched."""
    parts = [chips(page.filter_chips, page.lang, "sl-filter-chip"), chips(page.chips, page.lang),
             f'<h2 class="sl-summary">{escape(page.summary)}</h2>']  # fmt: skip
    parts += [f'<p class="sl-notice">{escape(notice)}</p>' for notice in page.notices]
    if page.relaxations:
        buttons = "".join(
            f'<button type="button" class="sl-relax" data-relax="{i}">'
            f"{escape(('去掉' if page.lang == 'zh' else 'Drop ') + r.label)} ({r.count})</button>"
            for i, r in enumerate(page.relaxations)
        )  # fmt: skip
        parts.append(f'<div class="sl-relaxations">{buttons}</div>')
    return "".join(parts)


def facet_choices(facet: Facet) -> list[tuple[str, str]]:
    """(label with count, value) for a filter control; values with no result here show no count."""
    return [(f"{v.label} ({v.count})" if v.count else v.label, v.value) for v in facet.values]


def selected(facet: Facet) -> list[str]:
    return [v.value for v in facet.values if v.selected]


# --- the product panel ------------------------------------------------------------------------------
def highlight(words_text: str, words: tuple[str, ...] | list[str]) -> str:
    """HTML-escaped ``words_text`` with the matched query words marked."""
    safe = escape(words_text)
    for word in sorted(set(words), key=len, reverse=True):
        pattern = re.escape(escape(word))
        boundary = r"" if re.search(r"[\u3400-\u9fff]", word) else r"\b"
        safe = re.sub(rf"{boundary}({pattern}\w*)", r"<mark>\1</mark>", safe, flags=re.I)
    return safe


def product_head(view: ProductView, lang: Lang) -> str:
    """The top of the product panel: picture, names in both languages, price and rating."""
    product = view.product
    first, second = (product.title_zh or product.title, product.title) if lang == "zh" else (product.title, product.title_zh)
    return (
        f'<div class="sl-detail"><img class="sl-detail-img" src="{image_url(product)}" alt="{escape(first)}">'
        f"<h2>{escape(first)}</h2>"
        + (f'<p class="sl-subtitle">{escape(second)}</p>' if second and second != first else "")
        + f'<p class="sl-detail-meta"><b class="sl-price">{escape(price_text(product))}</b> {rating_html(product, lang)}</p></div>'
    )


def product_body(view: ProductView, lang: Lang, record: dict[str, Any] | None = None) -> str:
    """Facts, descriptions with the matched words marked, tags, and "why this result" when it came from a search."""
    product, words = view.product, (record or {}).get("words", ())
    descriptions = [product.description_zh, product.description] if lang == "zh" else [product.description, product.description_zh]
    facts = [category_label(product.category, lang), product.brand, colour_label(product.colour, lang) if product.colour else ""]
    parts = [
        f'<div class="sl-detail"><p class="sl-facts">{" · ".join(escape(f) for f in facts if f)}</p>',
        *(f"<p>{highlight(d, words)}</p>" for d in descriptions if d),
        f'<p class="sl-tags">{" ".join(f"<code>{escape(t)}</code>" for t in product.tags)}</p>' if product.tags else "",
        f'<p class="sl-muted">id {escape(product.id)}</p></div>',
        explanation(record, lang) if record and record.get("breakdown") else "",
    ]
    return "".join(parts)


def explanation(record: dict[str, Any], lang: Lang) -> str:
    """"Why this result": each signal's share of the score (they add up), matched words, filters."""
    rows = []
    for key in SIGNALS:
        if key not in record["breakdown"]:
            continue
        part = record["breakdown"][key]
        if key in ("image", "text"):
            value = f"cos {record['similarity'].get(key, 0.0):.3f}"
        elif key == "lexical":
            value = ", ".join(f"<mark>{escape(w)}</mark>" for w in record["words"]) or escape(label("why.no_words", lang))
        elif key == "personal":
            value = escape(label("why.learned", lang))
        else:
            value = escape(label("why.unwanted" if part else "why.none", lang))
        rows.append(f"<tr><td>{escape(label(f'why.{key}', lang))}</td><td>{value}</td><td>{part:+.3f}</td></tr>")
    for line in record.get("synonyms", ()):
        rows.append(f"<tr><td>{escape(label('why.synonym', lang))}</td><td colspan=2>{escape(line)}</td></tr>")
    found = ", ".join(record["matched"]) or label("why.filters", lang)
    rows.append(f"<tr><th>{escape(label('why.score', lang))}</th><td>{escape(label('why.found_by', lang))} {escape(found)}</td>"
                f"<th>{record['score']:.3f}</th></tr>")  # fmt: skip
    head = f"<tr><th>{label('why.signal', lang)}</th><th>{label('why.value', lang)}</th><th>{label('why.adds', lang)}</th></tr>"
    return f'<div class="sl-why"><h3>{escape(label("why", lang))}</h3><table>{head}{"".join(rows)}</table></div>'


def hit_records(hits: list[Hit]) -> dict[str, dict[str, Any]]:
    """What the product panel needs to explain each shown hit later (kept in the browser session)."""
    return {
        hit.product.id: {"score": hit.score, "breakdown": hit.breakdown, "similarity": dict(hit.similarity),
                         "matched": list(hit.matched), "words": list(hit.matched_words), "synonyms": list(hit.synonyms)}
        for hit in hits
    }  # fmt: skip


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
