"""'Your catalogue': a shop owner uploads a CSV/JSONL file and a zip of images, sees the check, and serves it.

Shown only when SHOPLENS_ADMIN_TOKEN is set, and every action asks for the token again (the page
keeps no session). Unpacking, checking and indexing are the engine's
(:mod:`engine.catalogue.uploads`, :meth:`engine.service.ShopLens.serve_catalogue`); progress shows in
the page's status banner while the new catalogue indexes in the background.
"""

from __future__ import annotations

import hmac
from html import escape
from typing import Any

import gradio as gr

from demo import present
from demo.feedback import Refused, friendly, warn
from demo.i18n import label
from engine.i18n import Lang, error_text, text
from engine.service import ShopLens


class AdminPanel:
    def __init__(self, shop: ShopLens) -> None:
        self.shop = shop
        with gr.Accordion(label("admin", "en"), open=False, elem_id="admin") as self.box:
            self.token = gr.Textbox(label=label("admin.token", "en"), type="password", max_lines=1, elem_id="admin-token")
            with gr.Row():
                self.catalogue = gr.File(label=label("admin.catalogue", "en"), file_types=[".csv", ".jsonl", ".json"],
                                         elem_id="admin-catalogue")  # fmt: skip
                self.images = gr.File(label=label("admin.images", "en"), file_types=[".zip"], elem_id="admin-images")
            with gr.Row():
                self.check = gr.Button(label("admin.check", "en"), elem_id="admin-check", size="sm")
                self.serve = gr.Button(label("admin.serve", "en"), variant="primary", interactive=False,
                                       elem_id="admin-serve", size="sm")  # fmt: skip
                self.restore = gr.Button(label("admin.restore", "en"), elem_id="admin-restore", size="sm")
            self.report = gr.HTML(elem_id="admin-report")
            self.progress = gr.HTML(elem_id="admin-progress", visible=False)
        self.checked = gr.State("")  # the folder of the last upload that passed the check

    @property
    def labelled(self) -> list[gr.components.Component]:
        return [self.box, self.token, self.catalogue, self.images, self.check, self.serve, self.restore]

    def relabel(self, lang: Lang) -> list[Any]:
        return [gr.update(label=label("admin", lang)), gr.update(label=label("admin.token", lang)),
                gr.update(label=label("admin.catalogue", lang)), gr.update(label=label("admin.images", lang)),
                gr.update(value=label("admin.check", lang)), gr.update(value=label("admin.serve", lang)),
                gr.update(value=label("admin.restore", lang))]  # fmt: skip

    @property
    def status_outputs(self) -> list[gr.components.Component]:
        return [self.report, self.progress]

    def status_updates(self, lang: Lang) -> list[Any]:
        """For the page's status timer: a progress bar under the buttons while a catalogue indexes, and,
        when the chosen catalogue could not be served, why, in place of the report (shoppers never see it)."""
        status = self.shop.status()
        if status.catalogue_problem:
            problem = text("status.catalogue_failed", lang, reason=error_text(status.catalogue_problem, lang))
            return [f"<p class='sl-flag'>{escape(problem)}</p>", gr.update(value="", visible=False)]
        if not status.indexing:
            return [gr.skip(), gr.update(value="", visible=False)]
        done, total = status.indexing
        bar = f"<progress value='{done}' max='{max(total, 1)}'></progress>"
        return [gr.skip(), gr.update(value=f"<p>{bar} {escape(label('admin.progress', lang).format(done=done, total=total))}</p>",
                                     visible=True)]  # fmt: skip

    def _allowed(self, token: str, lang: Lang) -> None:
        expected = self.shop.settings.admin_token or ""
        if not expected or not hmac.compare_digest((token or "").encode(), expected.encode()):
            raise Refused(label("admin.denied", lang))

    def wire(self, lang: gr.Radio, status_timer: gr.Timer) -> None:
        quiet = dict(api_visibility="private", preprocess=False)

        def check(lang_: Lang, token: str, catalogue: Any, images: Any) -> tuple[str, Any, str]:
            try:
                self._allowed(token, lang_)
                catalogue_path = present.upload_path(catalogue)
                if catalogue_path is None:
                    raise Refused(label("admin.no_file", lang_))
                upload = self.shop.receive_catalogue(catalogue_path, present.upload_path(images))
            except Exception as error:  # a refused check must not leave an earlier upload ready to serve
                return f"<p class='sl-flag'>{escape(warn(error, lang_, 'check'))}</p>", gr.update(interactive=False), ""
            lines = upload.report()
            good = bool(upload.catalogue.products)
            html = f"<p><b>{escape(lines[0])}</b></p>" + "".join(f"<p class='sl-flag'>{escape(line)}</p>" for line in lines[1:])
            return html, gr.update(interactive=good), str(upload.catalogue.path) if good else ""

        @friendly(3)
        def serve(lang_: Lang, token: str, checked: str) -> tuple[str, Any, Any]:
            self._allowed(token, lang_)
            if not checked:
                raise Refused(label("admin.check_first", lang_))
            self.shop.serve_catalogue(checked)
            return f"<p>{escape(label('admin.indexing', lang_))}</p>", gr.update(interactive=False), gr.Timer(active=True)

        @friendly(2)
        def restore(lang_: Lang, token: str) -> tuple[str, Any]:
            self._allowed(token, lang_)
            self.shop.serve_catalogue(None)
            return f"<p>{escape(label('admin.restoring', lang_))}</p>", gr.Timer(active=True)

        self.check.click(check, [lang, self.token, self.catalogue, self.images], [self.report, self.serve, self.checked], **quiet)
        self.serve.click(serve, [lang, self.token, self.checked], [self.report, self.serve, status_timer], **quiet)
        self.restore.click(restore, [lang, self.token], [self.report, status_timer], **quiet)
