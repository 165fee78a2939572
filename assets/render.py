"""Flat drawings of clothes and bags in any colour, for the demo catalogue (no clip art needed)."""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image, ImageDraw

RGB = tuple[int, int, int]
S = 512  # canvas side


def _shade(rgb: RGB, factor: float) -> RGB:
    return tuple(max(0, min(255, int(c * factor))) for c in rgb)  # type: ignore[return-value]


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    return image, ImageDraw.Draw(image)


def _poly(draw: ImageDraw.ImageDraw, points: list[tuple[int, int]], rgb: RGB) -> None:
    draw.polygon(points, fill=rgb, outline=_shade(rgb, 0.55), width=6)


def tshirt(rgb: RGB, long_sleeves: bool = False) -> Image.Image:
    image, draw = _canvas()
    if long_sleeves:
        _poly(draw, [(150, 110), (60, 200), (40, 420), (100, 425), (130, 250), (150, 230)], rgb)
        _poly(draw, [(362, 110), (452, 200), (472, 420), (412, 425), (382, 250), (362, 230)], rgb)
    else:
        _poly(draw, [(150, 110), (50, 190), (95, 265), (150, 230)], rgb)
        _poly(draw, [(362, 110), (462, 190), (417, 265), (362, 230)], rgb)
    _poly(draw, [(150, 110), (210, 90), (302, 90), (362, 110), (362, 460), (150, 460)], rgb)
    draw.chord((205, 60, 307, 140), 0, 180, fill=_shade(rgb, 0.7))
    return image


def hoodie(rgb: RGB) -> Image.Image:
    image = tshirt(rgb, long_sleeves=True)
    draw = ImageDraw.Draw(image)
    draw.ellipse((190, 40, 322, 150), fill=_shade(rgb, 0.85), outline=_shade(rgb, 0.55), width=6)
    draw.rectangle((200, 320, 312, 400), fill=_shade(rgb, 0.85), outline=_shade(rgb, 0.55), width=5)
    draw.line((235, 140, 230, 230), fill=_shade(rgb, 0.4), width=5)
    draw.line((277, 140, 282, 230), fill=_shade(rgb, 0.4), width=5)
    return image


def jumper(rgb: RGB) -> Image.Image:
    image = tshirt(rgb, long_sleeves=True)
    draw = ImageDraw.Draw(image)
    for y in range(170, 440, 36):  # knit rows
        draw.line((160, y, 352, y), fill=_shade(rgb, 0.8), width=4)
    draw.rectangle((150, 435, 362, 460), fill=_shade(rgb, 0.75))
    return image


def jacket(rgb: RGB) -> Image.Image:
    image = tshirt(rgb, long_sleeves=True)
    draw = ImageDraw.Draw(image)
    draw.line((256, 110, 256, 460), fill=_shade(rgb, 0.35), width=6)
    draw.polygon([(205, 92), (256, 170), (230, 100)], fill=_shade(rgb, 0.7))
    draw.polygon([(307, 92), (256, 170), (282, 100)], fill=_shade(rgb, 0.7))
    for x in (190, 322):
        draw.rectangle((x - 30, 330, x + 30, 345), fill=_shade(rgb, 0.6))
    return image


def dress(rgb: RGB) -> Image.Image:
    image, draw = _canvas()
    _poly(draw, [(200, 60), (230, 60), (256, 100), (282, 60), (312, 60), (320, 220), (192, 220)], rgb)
    _poly(draw, [(192, 215), (320, 215), (440, 470), (72, 470)], rgb)
    draw.rectangle((190, 205, 322, 230), fill=_shade(rgb, 0.7))
    return image


def skirt(rgb: RGB) -> Image.Image:
    image, draw = _canvas()
    _poly(draw, [(180, 110), (332, 110), (440, 430), (72, 430)], rgb)
    draw.rectangle((176, 100, 336, 135), fill=_shade(rgb, 0.7))
    for x in (200, 256, 312):
        draw.line((x, 140, x + (x - 256) * 0.6, 425), fill=_shade(rgb, 0.8), width=4)
    return image


def trousers(rgb: RGB) -> Image.Image:
    image, draw = _canvas()
    _poly(draw, [(170, 60), (342, 60), (370, 480), (280, 480), (256, 170), (232, 480), (142, 480)], rgb)
    draw.rectangle((168, 55, 344, 85), fill=_shade(rgb, 0.7))
    return image


def scarf(rgb: RGB) -> Image.Image:
    image, draw = _canvas()
    _poly(draw, [(120, 80), (392, 80), (392, 150), (300, 150), (300, 430), (230, 430), (230, 150), (120, 150)], rgb)
    for x in range(232, 300, 12):
        draw.line((x, 430, x, 470), fill=_shade(rgb, 0.7), width=5)
    for y in (110, 250, 350):
        draw.line((235, y, 295, y), fill=_shade(rgb, 0.75), width=8)
    return image


def beanie(rgb: RGB) -> Image.Image:
    image, draw = _canvas()
    draw.chord((110, 120, 402, 460), 180, 360, fill=rgb, outline=_shade(rgb, 0.55), width=6)
    draw.rounded_rectangle((100, 280, 412, 360), 20, fill=_shade(rgb, 0.8), outline=_shade(rgb, 0.55), width=6)
    draw.ellipse((216, 60, 296, 140), fill=_shade(rgb, 1.2), outline=_shade(rgb, 0.55), width=5)
    return image


def socks(rgb: RGB) -> Image.Image:
    image, draw = _canvas()
    for dx in (-70, 70):
        _poly(draw, [(190 + dx, 60), (290 + dx, 60), (290 + dx, 330), (330 + dx, 420), (290 + dx, 470),
                     (210 + dx, 460), (190 + dx, 360)], rgb)  # fmt: skip
        draw.rectangle((190 + dx, 60, 290 + dx, 100), fill=_shade(rgb, 0.7))
    return image


def belt(rgb: RGB) -> Image.Image:
    image, draw = _canvas()
    draw.rounded_rectangle((40, 220, 472, 290), 14, fill=rgb, outline=_shade(rgb, 0.55), width=6)
    draw.rectangle((90, 205, 170, 305), outline=(190, 170, 90), width=12)
    for x in range(240, 440, 45):
        draw.ellipse((x, 248, x + 14, 262), fill=_shade(rgb, 0.4))
    return image


def tote(rgb: RGB) -> Image.Image:
    image, draw = _canvas()
    draw.arc((170, 60, 342, 260), 180, 360, fill=_shade(rgb, 0.6), width=16)
    _poly(draw, [(120, 160), (392, 160), (420, 470), (92, 470)], rgb)
    return image


def backpack(rgb: RGB) -> Image.Image:
    image, draw = _canvas()
    draw.arc((196, 40, 316, 140), 180, 360, fill=_shade(rgb, 0.6), width=14)
    draw.rounded_rectangle((120, 90, 392, 470), 60, fill=rgb, outline=_shade(rgb, 0.55), width=6)
    draw.rounded_rectangle((160, 290, 352, 440), 30, fill=_shade(rgb, 0.82), outline=_shade(rgb, 0.55), width=5)
    draw.line((180, 320, 332, 320), fill=_shade(rgb, 0.45), width=5)
    return image


def handbag(rgb: RGB) -> Image.Image:
    image, draw = _canvas()
    draw.arc((166, 90, 346, 300), 180, 360, fill=_shade(rgb, 0.6), width=18)
    _poly(draw, [(140, 200), (372, 200), (430, 440), (82, 440)], rgb)
    draw.polygon([(140, 200), (372, 200), (340, 280), (172, 280)], fill=_shade(rgb, 0.8))
    draw.rectangle((236, 262, 276, 300), fill=(200, 175, 90))
    return image


RENDERERS: dict[str, Callable[[RGB], Image.Image]] = {
    "tshirt": tshirt, "hoodie": hoodie, "jumper": jumper, "jacket": jacket, "dress": dress, "skirt": skirt,
    "trousers": trousers, "scarf": scarf, "beanie": beanie, "socks": socks, "belt": belt, "tote": tote,
    "backpack": backpack, "handbag": handbag,
}  # fmt: skip
