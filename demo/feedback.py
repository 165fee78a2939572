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
            except Exception as error:
                warn(error, lang, fn.__name__)
            return None if outputs == 0 else gr.skip() if outputs == 1 else [gr.skip()] * outputs

        return wrapper

    return decorate


def warn(error: Exception, lang: Lang, action: str) -> str:
    """Show why ``action`` failed as a notice in ``lang`` (a traceback only in the log); returns the text."""
    if isinstance(error, Refused):
        message = str(error)
    elif isinstance(error, ShopLensError):
        log.info("%s refused: %s", action, error)
        message = error_text(str(error), lang)
    else:
        log.exception("unexpected failure in %s", action, exc_info=error)
        message = label("error.unexpected", lang)
    gr.Warning(message, title=label("error.title", lang))
    return message
