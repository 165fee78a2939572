"""The reviews part of the product panel: what shoppers said, most helpful first, and writing one.

A review is stars, words, an optional photo and an optional voice note. The voice note goes through
the same Whisper path as voice search and lands in the text box, so the shopper can correct it
before posting. Rendering only: :class:`engine.reviews.desk.ReviewDesk` decides order and analysis.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

import gradio as gr

from demo import present
from demo.feedback import Refused, friendly
from demo.i18n import label
from engine.i18n import Lang, text
from engine.service import ShopLens
from engine.types import ReviewsView

CLICKS = """
element.addEventListener('click', (event) => {
  const target = event.target.closest('[data-vote],[data-remove]');
  if (!target) return;
  if (target.dataset.vote !== undefined) trigger('click', {vote: target.dataset.vote});
  else trigger('click', {remove: target.dataset.remove});
});
"""


def reviews_html(view: ReviewsView, lang: Lang) -> str:
    if not view.items:
        return f'<p class="sl-muted">{escape(label("reviews.none", lang))}</p>'
    head = f'<p class="sl-review-summary">{_stars(view.stars)} {view.stars:.1f} · {view.count} ' if view.stars else "<p>"
    head += f'{escape(label("reviews.count.one" if view.count == 1 else "reviews.count", lang))}</p>'
    head += f'<p class="sl-muted">{escape(view.summary)}</p>'
    items = []
    for item in view.items:
        photo = (f'<img class="sl-review-photo" src="review-img/{quote(item.id, safe="")}" alt="" loading="lazy">'
                 if item.photo else "")  # fmt: skip
        doubt = f'<span class="sl-flag">{escape(label("reviews.doubtful", lang))}</span>' if item.photo_doubtful else ""
        own = (f'<button type="button" class="sl-link" data-remove="{escape(item.id)}">{escape(label("reviews.delete", lang))}</button>'
               if item.mine else
               f'<button type="button" class="sl-link" data-vote="{escape(item.id)}">{escape(label("reviews.helpful", lang))}'
               f" ({item.helpful})</button>")  # fmt: skip
        generated = f' · <span class="sl-muted">{escape(label("reviews.generated", lang))}</span>' if item.generated else ""
        why = f'{escape(label("reviews.why", lang))}: {escape(item.why)} ' if item.why else ""
        items.append(
            f'<div class="sl-review"><p><b>{_stars(item.stars)}</b> {escape(item.author)} · {escape(item.written)}{generated}</p>'
            f"<p>{escape(item.text)}</p>{photo}{doubt}"
            f'<p class="sl-review-why">{why}{own}</p></div>'
        )
    return head + "".join(items)


def _stars(stars: float | None) -> str:
    full = round(stars or 0)
    return f'<span class="sl-rating" aria-label="{stars or 0:.1f} / 5">{"★" * full}{"☆" * (5 - full)}</span>'


class ReviewPanel:
    """Built inside the product panel; :meth:`wire` connects it once the page's state exists."""

    def __init__(self, shop: ShopLens) -> None:
        self.shop = shop
        self.title = gr.Markdown(f"### {label('reviews', 'en')}", elem_id="reviews-title")
        self.listing = gr.HTML(elem_id="reviews", js_on_load=CLICKS)
        with gr.Accordion(label("reviews.write", "en"), open=False, elem_id="write-review") as self.box:
            self.stars = gr.Radio([("★" * n, n) for n in range(5, 0, -1)], label=label("reviews.stars", "en"),
                                  elem_id="review-stars")  # fmt: skip
            self.words = gr.Textbox(label=label("reviews.text", "en"), lines=3, max_lines=8, elem_id="review-text")
            with gr.Row():
                self.photo = gr.Image(label=label("reviews.photo", "en"), sources=["upload", "webcam"], type="filepath",
                                      height=140, elem_id="review-photo")  # fmt: skip
                self.voice = gr.Audio(label=label("reviews.voice", "en"), sources=["microphone", "upload"], type="filepath",
                                      elem_id="review-voice")  # fmt: skip
            with gr.Row():
                self.transcribe = gr.Button(label("reviews.transcribe", "en"), elem_id="review-transcribe")
                self.post = gr.Button(label("reviews.post", "en"), variant="primary", elem_id="review-post")
        self.heard = gr.State("")  # what Whisper heard, kept beside the corrected words

    @property
    def labelled(self) -> list[gr.components.Component]:
        return [self.title, self.box, self.stars, self.words, self.photo, self.voice, self.transcribe, self.post]

    def relabel(self, lang: Lang) -> list[Any]:
        return [f"### {label('reviews', lang)}", gr.update(label=label("reviews.write", lang)),
                gr.update(label=label("reviews.stars", lang)), gr.update(label=label("reviews.text", lang)),
                gr.update(label=label("reviews.photo", lang)), gr.update(label=label("reviews.voice", lang)),
                gr.update(value=label("reviews.transcribe", lang)), gr.update(value=label("reviews.post", lang))]  # fmt: skip

    def show(self, product_id: str, shopper: str, lang: Lang) -> str:
        return reviews_html(self.shop.product_reviews(product_id, shopper=shopper, lang=lang), lang)

    def wire(self, lang: gr.Radio, shopper: gr.BrowserState, current: gr.State) -> None:
        quiet = dict(api_visibility="private", preprocess=False)

        @friendly(2)
        def transcribe(lang_: Lang, voice: Any) -> tuple[str, str]:
            path = present.upload_path(voice)
            if path is None:
                raise Refused(label("reviews.no_voice", lang_))
            heard = self.shop.transcribe_review(path)
            return heard, heard

        @friendly(6)
        def post(lang_: Lang, shopper_id: str, product_id: str, stars: Any, words: str, photo: Any, heard: str):
            self.shop.post_review(shopper_id, product_id, int(stars or 0), words or "", photo=present.upload_path(photo),
                                  transcript=heard or None)  # fmt: skip
            gr.Info(text("review.posted", lang_))
            return self.show(product_id, shopper_id, lang_), None, "", None, None, ""

        @friendly(1)
        def click(lang_: Lang, event: gr.EventData, shopper_id: str, product_id: str) -> str:
            data = event._data or {}
            if "vote" in data:
                self.shop.reviews.vote(shopper_id, data["vote"])
            elif "remove" in data:
                self.shop.reviews.delete(shopper_id, data["remove"])
            return self.show(product_id, shopper_id, lang_)

        self.transcribe.click(transcribe, [lang, self.voice], [self.words, self.heard], **quiet)
        self.post.click(post, [lang, shopper, current, self.stars, self.words, self.photo, self.heard],
                        [self.listing, self.stars, self.words, self.photo, self.voice, self.heard], **quiet)  # fmt: skip
        self.listing.click(click, [lang, shopper, current], self.listing, api_visibility="private")
