"""Open any uploaded or catalogue image safely and hand CLIP a plain RGB picture.

Covers what real uploads bring: CMYK JPEGs, transparent PNGs, palettes, 16-bit greyscale, animated
GIF/WebP (first frame), EXIF rotation; and refuses what must not get further: empty, corrupt or
truncated files, non-raster files (SVG, PDF, text) and decompression bombs.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import InvalidInputError

SUPPORTED = "JPEG, PNG, WebP, GIF, BMP or TIFF"
# Only these decoders are ever tried. Pillow would otherwise open whatever it recognises, EPS
# included, which hands the file to Ghostscript when that is installed.
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
BACKGROUND = (255, 255, 255)


def load_image(path: str | Path, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """The image at ``path`` as RGB, or :class:`InvalidInputError` saying why it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError("The image upload did not arrive; please try again.")
    size = path.stat().st_size
    if size == 0:
        raise InvalidInputError("The image file is empty.")
    if size > max_bytes:
        raise InvalidInputError(f"The image is too large ({size / 1e6:.1f} MB; limit {max_bytes / 1e6:.0f} MB).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=FORMATS) as image:
                _check_area(image, max_pixels)
                image.seek(0)  # first frame of an animation
                image.load()
                return to_rgb(ImageOps.exif_transpose(image))
    except InvalidInputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        if isinstance(error, UnidentifiedImageError):
            raise InvalidInputError(f"This file is not an image we can read. Please upload {SUPPORTED}.") from error
        raise InvalidInputError("The image has too many pixels to process safely.") from error
    except (OSError, ValueError, SyntaxError, EOFError) as error:  # truncated or corrupt data
        raise InvalidInputError("The image file is damaged or incomplete; please try another file.") from error


def _check_area(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise InvalidInputError("The image has no pixels.")
    if width * height > max_pixels:
        raise InvalidInputError(
            f"The image is too large to process ({width}x{height} pixels; limit {max_pixels / 1e6:.0f} megapixels)."
        )


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to RGB: transparency over white, 16-bit and float scaled to 8 bits."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        image = _scale_to_8bit(image)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, BACKGROUND)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB") if image.mode != "RGB" else image.copy()


def _scale_to_8bit(image: Image.Image) -> Image.Image:
    values = np.asarray(image, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    scaled = np.zeros_like(values) if high <= low else (values - low) * (255.0 / (high - low))
    return Image.fromarray(scaled.astype(np.uint8), mode="L")
