"""Errors a shopper or shop owner can read.

Every exception raised on purpose by the engine derives from :class:`ShopLensError`; its message is
written for the person in front of the screen (what went wrong and what to do), so the UI and the API
can show it as it is. Anything else escaping the engine is a bug.
"""


class ShopLensError(Exception):
    """Base class: ``str(error)`` is a complete, user-facing sentence."""


class InvalidInputError(ShopLensError):
    """A query input (text, image, audio, filter) cannot be used."""


class NoSpeechError(InvalidInputError):
    """The audio decoded fine but holds no speech to search for."""


class CatalogueError(ShopLensError):
    """The catalogue file as a whole cannot be read (single bad rows are reported, not raised)."""


class ModelUnavailableError(ShopLensError):
    """Model weights could not be loaded (no network, wrong name, unreadable checkpoint)."""


class IndexMismatchError(ShopLensError):
    """The vector index was built by another model or with another dimension."""


class StoreUnavailableError(ShopLensError):
    """The Chroma database cannot be opened or reached."""


def brief(error: BaseException, limit: int = 160) -> str:
    """``Type: first sentence`` of an underlying error, short enough for a one-line message."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    sentence = text.split(". ")[0].rstrip(".")
    if len(sentence) > limit:
        sentence = sentence[: limit - 1].rsplit(" ", 1)[0] + "…"
    return f"{type(error).__name__}: {sentence}" if sentence else type(error).__name__
