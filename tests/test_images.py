import io

import numpy as np
import pytest
from PIL import Image

from engine.catalogue.images import load_image
from engine.errors import InvalidInputError

LIMITS = dict(max_bytes=5_000_000, max_pixels=4_000_000)


def save(path, image, **options):
    image.save(path, **options)
    return path


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = save(tmp_path / "cmyk.jpg", Image.new("CMYK", (40, 30), (0, 255, 255, 0)))
    image = load_image(path, **LIMITS)
    assert image.mode == "RGB" and image.size == (40, 30)
    red, green, blue = image.getpixel((20, 15))
    assert red > 200 and green < 60 and blue < 60


def test_transparent_png_is_put_on_white(tmp_path):
    rgba = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 10, 20))
    image = load_image(save(tmp_path / "rgba.png", rgba), **LIMITS)
    assert image.mode == "RGB"
    assert image.getpixel((2, 5)) == (0, 0, 255) and image.getpixel((15, 5)) == (255, 255, 255)


def test_palette_image_with_transparency(tmp_path):
    palette = Image.new("P", (10, 10), 1)
    palette.putpalette([255, 255, 255, 0, 200, 0] + [0] * 762)
    palette.info["transparency"] = 0
    image = load_image(save(tmp_path / "p.png", palette, transparency=0), **LIMITS)
    assert image.mode == "RGB" and image.getpixel((5, 5)) == (0, 200, 0)


def test_sixteen_bit_greyscale_keeps_its_contrast(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (8, 1))
    image = load_image(save(tmp_path / "deep.png", Image.fromarray(ramp, mode="I;16")), **LIMITS)
    pixels = np.asarray(image)
    assert image.mode == "RGB" and pixels[0, 0, 0] == 0 and pixels[0, -1, 0] == 255


def test_animated_gif_uses_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), colour) for colour in ("red", "blue", "green")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    red, green, blue = load_image(path, **LIMITS).getpixel((8, 8))
    assert red > 200 and blue < 50


def test_animated_webp_works(tmp_path):
    frames = [Image.new("RGB", (16, 16), colour) for colour in ("blue", "red")]
    path = tmp_path / "anim.webp"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    red, green, blue = load_image(path, **LIMITS).getpixel((8, 8))
    assert blue > 200 and red < 60


def test_exif_rotation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when shown
    path = save(tmp_path / "rotated.jpg", Image.new("RGB", (40, 20), "white"), exif=exif)
    assert load_image(path, **LIMITS).size == (20, 40)


@pytest.mark.parametrize("name, content, message", [
    ("empty.png", b"", "empty"),
    ("text.png", b"just some words, not pixels", "not an image"),
    ("vector.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>', "not an image"),
    ("doc.pdf", b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", "not an image"),
])  # fmt: skip
def test_unusable_files_are_refused_with_a_message(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=message):
        load_image(path, **LIMITS)


def test_truncated_and_corrupt_images_are_refused(tmp_path):
    buffer = io.BytesIO()
    Image.effect_noise((200, 200), 60).convert("RGB").save(buffer, "PNG")
    data = buffer.getvalue()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    corrupt = bytearray(data)
    corrupt[200:400] = b"\x00" * 200
    (tmp_path / "corrupt.png").write_bytes(bytes(corrupt))
    for name in ("truncated.png", "corrupt.png"):
        with pytest.raises(InvalidInputError, match="damaged or incomplete"):
            load_image(tmp_path / name, **LIMITS)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    bomb = save(tmp_path / "bomb.png", Image.new("1", (3000, 3000)))  # 9 Mpx in a few kB
    assert bomb.stat().st_size < 50_000
    with pytest.raises(InvalidInputError, match="too large to process"):
        load_image(bomb, max_bytes=5_000_000, max_pixels=4_000_000)


def test_far_over_pil_limit_is_refused_too(tmp_path):
    huge = save(tmp_path / "huge.png", Image.new("1", (20000, 10000)))  # over PIL's own bomb limit
    with pytest.raises(InvalidInputError, match="too many pixels|too large to process"):
        load_image(huge, max_bytes=50_000_000, max_pixels=10**12)


def test_oversized_file_is_refused(tmp_path):
    path = save(tmp_path / "big.png", Image.effect_noise((300, 300), 80))
    with pytest.raises(InvalidInputError, match="too large"):
        load_image(path, max_bytes=1000, max_pixels=10**9)
