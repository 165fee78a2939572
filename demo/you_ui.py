"""The "You" panel: what the shop knows about this shopper, and what they can do with it.

The events behind the recommendations (and forgetting one), continuing on another device with a
one-time code, downloading everything as JSON, and forgetting everything (reviews deleted or kept
as "a shopper", as the shopper chooses). Rendering only; the engine does the work.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from demo.feedback import Refused, friendly
from demo.i18n import label
from engine.i18n import Lang, text
from engine.service import ShopLens

EXPORTS = Path(tempfile.gettempdir()) / "shoplens-exports"


EXPORT_LIFETIME_SECONDS = 600  # a downloaded export is personal data: it does not linger on the server


def _remove_old_exports() -> None:
    EXPORTS.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - EXPORT_LIFETIME_SECONDS
    for folder in EXPORTS.iterdir():
        if folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


class YouPanel:
    """Built inside the profile accordion; :meth:`wire` connects it once the page's state exists."""

    def __init__(self, shop: ShopLens) -> None:
        self.shop = shop
        self.identity = gr.Markdown(elem_id="shopper-id")
        self.profile = gr.Dataframe(headers=label("profile.headers", "en").split("|"), interactive=False,
                                    elem_id="profile-table")  # fmt: skip
        with gr.Row():
            self.event_id = gr.Number(label=label("forget.id", "en"), precision=0, elem_id="forget-id")
            self.forget_one = gr.Button(label("forget.one", "en"), elem_id="forget-one", size="sm")
        self.devices_title = gr.Markdown(f"#### {label('devices', 'en')}")
        with gr.Row():
            self.show_code = gr.Button(label("devices.show", "en"), elem_id="pair-start", size="sm")
            self.code_text = gr.Markdown(elem_id="pair-code")
            self.qr = gr.Image(show_label=False, interactive=False, height=160, width=160, visible=False, elem_id="pair-qr")
        with gr.Row():
            self.code_in = gr.Textbox(label=label("devices.enter", "en"), placeholder="ABCD-EFGH", max_lines=1,
                                      elem_id="pair-code-in")  # fmt: skip
            self.join = gr.Button(label("devices.join", "en"), elem_id="pair-join", size="sm")
            self.unpair = gr.Button(label("devices.unpair", "en"), elem_id="pair-unpair", size="sm")
        self.data_title = gr.Markdown(f"#### {label('data', 'en')}")
        with gr.Row():
            self.export = gr.Button(label("data.export", "en"), elem_id="export-data", size="sm")
            self.download = gr.DownloadButton(label("data.download", "en"), visible=False, elem_id="download-data", size="sm")
            self.keep_reviews = gr.Radio([(label("data.reviews_delete", "en"), "delete"),
                                          (label("data.reviews_keep", "en"), "anonymise")], value="delete",
                                         label=label("data.reviews", "en"), elem_id="forget-reviews")  # fmt: skip
            self.forget_all = gr.Button(label("forget.all", "en"), variant="stop", elem_id="forget-me", size="sm")
        with gr.Row(visible=False, elem_id="forget-me-ask") as self.ask:  # forgetting everything is asked twice
            self.ask_text = gr.Markdown(label("forget.ask", "en"))
            self.confirm = gr.Button(label("forget.confirm", "en"), variant="stop", elem_id="forget-me-confirm", size="sm")
            self.cancel = gr.Button(label("forget.cancel", "en"), elem_id="forget-me-cancel", size="sm")

    @property
    def labelled(self) -> list[gr.components.Component]:
        return [self.event_id, self.forget_one, self.devices_title, self.show_code, self.code_in, self.join, self.unpair,
                self.data_title, self.export, self.download, self.keep_reviews, self.forget_all, self.ask_text,
                self.confirm, self.cancel]  # fmt: skip

    def relabel(self, lang: Lang) -> list[Any]:
        return [gr.update(label=label("forget.id", lang)), gr.update(value=label("forget.one", lang)),
                f"#### {label('devices', lang)}", gr.update(value=label("devices.show", lang)),
                gr.update(label=label("devices.enter", lang)), gr.update(value=label("devices.join", lang)),
                gr.update(value=label("devices.unpair", lang)), f"#### {label('data', lang)}",
                gr.update(value=label("data.export", lang)), gr.update(label=label("data.download", lang)),
                gr.update(label=label("data.reviews", lang), choices=[(label("data.reviews_delete", lang), "delete"),
                                                                      (label("data.reviews_keep", lang), "anonymise")]),
                gr.update(value=label("forget.all", lang)), label("forget.ask", lang),
                gr.update(value=label("forget.confirm", lang)), gr.update(value=label("forget.cancel", lang))]  # fmt: skip

    def wire(self, lang: gr.Radio, shopper: gr.BrowserState, refresh: dict[str, Any]) -> None:
        private = dict(api_visibility="private")

        @friendly()
        def forget(lang_: Lang, shopper_id: str, which: float | None) -> None:
            if not which or not self.shop.events.forget(shopper_id, int(which)):
                raise Refused(label("error.forget_id", lang_))
            gr.Info(text("action.forgot_one", lang_, id=int(which)))

        @friendly(2)
        def show_code(lang_: Lang, shopper_id: str, request: gr.Request) -> tuple[Any, Any]:
            code = self.shop.pairing.start(shopper_id)
            link = f"{request.request.base_url}?pair={code.code}" if getattr(request, "request", None) else None
            picture = Image.open(io.BytesIO(code.qr_png(link)))
            return label("devices.code", lang_).format(code=code.code), gr.update(value=picture, visible=True)

        @friendly(1)
        def join(lang_: Lang, shopper_id: str, code: str) -> str:
            merged = self.shop.pairing.join(shopper_id, (code or "").strip())
            gr.Info(text("pairing.joined", lang_, events=merged.events))
            return ""

        @friendly()
        def unpair(lang_: Lang, shopper_id: str) -> None:
            gr.Info(text("pairing.unpaired" if self.shop.pairing.unpair(shopper_id) else "pairing.not_paired", lang_))

        @friendly(1)
        def export(lang_: Lang, shopper_id: str) -> Any:
            """Write the shopper's data to a fresh file and offer it for download (older exports are removed)."""
            _remove_old_exports()
            target = Path(tempfile.mkdtemp(dir=EXPORTS)) / "shoplens-my-data.json"
            target.write_text(self.shop.shopper_data.export_json(shopper_id), encoding="utf-8")
            return gr.update(value=str(target), visible=True)

        @friendly()
        def forget_me(lang_: Lang, shopper_id: str, reviews: str) -> None:
            done = self.shop.shopper_data.forget(shopper_id, reviews="anonymise" if reviews == "anonymise" else "delete")
            gr.Info(text("forget.done", lang_, events=done.events, deleted=done.reviews_deleted,
                         anonymised=done.reviews_anonymised))  # fmt: skip

        self.forget_one.click(forget, [lang, shopper, self.event_id], None, **private).then(**refresh)
        self.show_code.click(show_code, [lang, shopper], [self.code_text, self.qr], **private)
        self.join.click(join, [lang, shopper, self.code_in], self.code_in, **private).then(**refresh)
        self.unpair.click(unpair, [lang, shopper], None, **private).then(**refresh)
        self.export.click(export, [lang, shopper], self.download, **private)
        self.forget_all.click(lambda: gr.update(visible=True), None, self.ask, **private)
        self.cancel.click(lambda: gr.update(visible=False), None, self.ask, **private)
        self.confirm.click(lambda: gr.update(visible=False), None, self.ask, **private).then(
            forget_me, [lang, shopper, self.keep_reviews], None, **private).then(**refresh)  # fmt: skip
