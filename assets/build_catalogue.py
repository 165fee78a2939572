"""Rebuild the bundled demo catalogue: ``python assets/build_catalogue.py``.

Images are public-domain clip art from Debian's ``openclipart-png`` package (recoloured variants of
it) and clothes and bags this script draws itself. Output, all committed:

- ``assets/catalogue/products.jsonl``: the products, English and Chinese;
- ``assets/catalogue/images/*.jpg``: one 320 px image per product;
- ``assets/catalogue/SOURCES.csv``: where every image came from and what was done to it;
- ``assets/examples/``: example photos (not in the catalogue) and espeak-ng voice queries.

Seeded: the same inputs give the same catalogue. Needs ``apt-get install openclipart-png espeak-ng``.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalogue_spec import BRANDS, CATEGORIES, COLOURS, ITEMS, Item  # noqa: E402
from render import RENDERERS  # noqa: E402

CLIPART = Path("/usr/share/openclipart/png")
HERE = Path(__file__).resolve().parent
OUT = HERE / "catalogue"
EXAMPLES = HERE / "examples"
SIZE = 320
SEED = 20261128


def main() -> None:
    if not CLIPART.is_dir():
        sys.exit("openclipart-png is not installed: apt-get install openclipart-png")
    clipart = {path.stem: path for path in sorted(CLIPART.rglob("*.png"))}
    rng = random.Random(SEED)
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "images").mkdir(parents=True)
    products, sources = [], []
    for item in ITEMS:
        for colour in item.colours or [None]:
            image, source, transform = _image(item, colour, clipart)
            colour = colour or _nearest_colour(image)
            product_id = f"{item.category}-{item.key}-{colour}"
            file_name = f"{product_id}.jpg"
            _save(image, OUT / "images" / file_name)
            products.append(_product(item, colour, product_id, f"images/{file_name}", rng))
            sources.append({"image": f"images/{file_name}", "source": source, "licence": "public domain" if source.startswith("openclipart") else "CC0 (drawn by build_catalogue.py)", "transform": transform})
    with (OUT / "products.jsonl").open("w", encoding="utf-8") as handle:
        for product in products:
            handle.write(json.dumps(product, ensure_ascii=False) + "\n")
    with (OUT / "SOURCES.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "source", "licence", "transform"])
        writer.writeheader()
        writer.writerows(sources)
    _examples(clipart)
    categories = sorted({p["category"] for p in products})
    print(f"{len(products)} products in {len(categories)} categories: {', '.join(categories)}")


def _image(item: Item, colour: str | None, clipart: dict[str, Path]) -> tuple[Image.Image, str, str]:
    if item.render:
        rgb = COLOURS[colour or "red"][1]
        return RENDERERS[item.render](rgb), "rendered", f"drawn as a {item.render}, {colour}"
    path = clipart[item.clipart]
    with Image.open(path) as original:
        image = original.convert("RGBA")
    source = f"openclipart-png:{path.relative_to(CLIPART)}"
    if colour is None:
        return image, source, "resized"
    return _recolour(image, COLOURS[colour][1]), source, f"recoloured {colour}, resized"


def _recolour(image: Image.Image, rgb: tuple[int, int, int]) -> Image.Image:
    """Keep the drawing's light and shade, give it one colour: a monotone tint toward ``rgb``."""
    grey = ImageOps.autocontrast(image.convert("L"), cutoff=1)
    dark = tuple(int(c * 0.35) for c in rgb)
    light = tuple(min(255, int(c + (255 - c) * 0.55)) for c in rgb)
    tinted = ImageOps.colorize(grey, black=dark, white=light, mid=rgb).convert("RGBA")
    tinted.putalpha(image.getchannel("A"))
    return tinted


def _nearest_colour(image: Image.Image) -> str:
    """Name of the catalogue colour closest to the drawing's typical coloured pixel."""
    pixels = np.asarray(image.convert("RGBA").resize((96, 96))).reshape(-1, 4).astype(int)
    rgb = pixels[pixels[:, 3] > 128, :3]
    rgb = rgb[~(rgb > 235).all(axis=1) & ~(rgb < 25).all(axis=1)]
    if not len(rgb):
        return "black"
    median = rgb[np.argsort(rgb.sum(axis=1))[len(rgb) // 2]]
    return min(COLOURS, key=lambda name: sum((a - b) ** 2 for a, b in zip(COLOURS[name][1], median)))


def _save(image: Image.Image, path: Path) -> None:
    rgba = image.convert("RGBA")
    box = rgba.getchannel("A").getbbox() or (0, 0, *rgba.size)
    rgba = rgba.crop(box)
    scale = SIZE * 0.88 / max(rgba.size)  # small clip art is scaled up too
    rgba = rgba.resize((max(1, round(rgba.width * scale)), max(1, round(rgba.height * scale))), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (SIZE, SIZE), "white")
    canvas.paste(rgba, ((SIZE - rgba.width) // 2, (SIZE - rgba.height) // 2), rgba)
    canvas.save(path, "JPEG", quality=84, optimize=True)


def _product(item: Item, colour: str, product_id: str, image: str, rng: random.Random) -> dict:
    category = CATEGORIES[item.category]
    colour_en, colour_zh = colour, COLOURS[colour][0]
    brand = rng.choice(BRANDS[item.category])
    low, high = item.price
    price = round(rng.uniform(low, high), 0) - 0.01 if high > 5 else round(rng.uniform(low, high), 2)
    material_en, material_zh = rng.choice(category["materials"])
    is_tinted = item.colours is not None
    title = f"{colour_en.title()} {item.name}" if is_tinted else item.name
    title_zh = f"{colour_zh}{item.name_zh}" if is_tinted else item.name_zh
    return {
        "id": product_id,
        "title": title,
        "description": category["blurb"].format(name=item.name.lower(), colour=colour_en, brand=brand, material=material_en),
        "category": item.category,
        "price": price,
        "currency": "USD",
        "rating": round(rng.triangular(2.8, 5.0, 4.4), 1),
        "brand": brand,
        "colour": colour_en,
        "tags": sorted({*item.tags, colour_en, material_en, item.category}),
        "image": image,
        "title_zh": title_zh,
        "description_zh": category["blurb_zh"].format(name=item.name_zh, colour=colour_zh, brand=brand, material=material_zh),
    }


def _examples(clipart: dict[str, Path]) -> None:
    """Query examples that are not catalogue images: a re-drawn photo, and spoken queries."""
    if EXAMPLES.exists():
        shutil.rmtree(EXAMPLES)
    EXAMPLES.mkdir()
    shoe = _recolour(Image.open(clipart["tennis_shoe_jarno_vasama_"]).convert("RGBA"), COLOURS["red"][1])
    _save(shoe.rotate(8, expand=True, resample=Image.Resampling.BICUBIC), EXAMPLES / "photo_red_shoe.jpg")
    _save(RENDERERS["hoodie"](COLOURS["green"][1]), EXAMPLES / "photo_green_hoodie.jpg")
    for name, words in (("voice_teddy_bear", "a brown teddy bear"), ("voice_blue_backpack", "a blue backpack for school")):
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "130", "-w", str(EXAMPLES / f"{name}.wav"), words], check=True)
    with (EXAMPLES / "SOURCES.csv").open("w", newline="", encoding="utf-8") as handle:
        handle.write("file,source,licence\n")
        handle.write("photo_red_shoe.jpg,openclipart-png:recreation/sports/tennis_shoe_jarno_vasama_.png recoloured and rotated,public domain\n")
        handle.write("photo_green_hoodie.jpg,drawn by assets/render.py,CC0\n")
        handle.write("voice_teddy_bear.wav,espeak-ng speech synthesis,CC0\n")
        handle.write("voice_blue_backpack.wav,espeak-ng speech synthesis,CC0\n")


if __name__ == "__main__":
    main()
