"""How the page answers when it cannot do what was asked: a notice in the shopper's language.

Every handler of the page takes the page language as its first argument and is wrapped in
:func:`friendly`, so a refused request leaves everything on screen as it was.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from demo.i18n import label
from engine.errors import ShopLensError
from engine.i18n import Lang, error_text

log = logging.getLogger(__name__)


class Refused(Exception):
    """A request the page itself turns down; the message is already in the shopper's language."""


def friendly(outputs: int = 0) -> Callable[[Callable], Callable]:
    """Turn refusals into a notice in the page's language and leave the page as it was.

    Every handler's first argument is the page language. A refused search must lose nothing: the
    results, filters and words on screen stay (``outputs`` unchanged values are returned), and
    anything unexpected is logged, never shown as a traceback.
    """

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(lang: Lang, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(lang, *args, **kwargs)
            except Refused as refusal:
                gr.Warning(str(refusal), title=label("error.title", lang))
            except ShopLensError as error:
                log.info("%s refused: %s", fn.__name__, error)
                gr.Warning(error_text(str(error), lang), title=label("error.title", lang))
            except Exception:
                log.exception("unexpected failure in %s", fn.__name__)
                gr.Warning(label("error.unexpected", lang), title=label("error.title", lang))
            return None if outputs == 0 else gr.skip() if outputs == 1 else [gr.skip()] * outputs

        return wrapper

    return decorate
