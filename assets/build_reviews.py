"""Rebuild the bundled reviews: ``python assets/build_reviews.py`` (after ``build_catalogue.py``).

The reviews are synthetic and say so: every row has ``"generated": true`` and
``assets/catalogue/SOURCES.csv`` labels the file and every review photo as generated. Each product
gets 0–8 reviews, in English or Chinese, whose stars scatter around the product's rating (so
well-rated products have critical reviews too), built from hand-written sentences about the six
aspects the analyser knows (quality, size/fit, price/value, comfort, delivery, looks), of varied
length and sentiment. About one review in five has a photo: a crop of the product image, slightly
rotated, relit and tinted like a phone snap; a few photos deliberately show another product, so the
photo check has something to find (the row's ``photo_of`` says which product a photo shows).

Output, all committed: ``assets/catalogue/reviews.jsonl``, ``assets/catalogue/review-images/*.jpg``
and the review rows of ``assets/catalogue/SOURCES.csv``. Seeded: the same catalogue gives the same
reviews.
"""

from __future__ import annotations

import csv
import json
import math
import random
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalogue_spec import ITEMS  # noqa: E402

HERE = Path(__file__).resolve().parent
CATALOGUE = HERE / "catalogue"
PHOTOS = CATALOGUE / "review-images"
SEED = 20261211
NEWEST = date(2026, 1, 15)
PHOTO_SIZE = 144
PHOTO_SHARE = 0.2
MISMATCH_SHARE = 0.07  # of the photos
COUNT_WEIGHTS = [6, 8, 11, 13, 13, 12, 10, 8, 6]  # 0..8 reviews per product

# which items reviews talk about the size/fit and the comfort of: category, or category-item
SIZED = {"apparel", "shoes", "accessories-cap", "accessories-top-hat", "accessories-beanie", "accessories-socks",
         "accessories-belt", "sports-helmet", "sports-baseball-glove"}
COMFORTABLE = SIZED | {"bags", "accessories-scarf", "home-sofa", "home-chair", "home-office-chair", "electronics-headphones",
                       "electronics-keyboard", "electronics-mouse", "toys-teddy", "toys-teddy-classic", "toys-teddy-soft"}
AUTHORS = {
    "en": ["Alex", "Sam", "Priya", "Tom", "Mia", "Jordan", "Chloe", "Ben", "Aisha", "Leo", "Hannah", "Omar", "Grace",
           "Lucas", "Zoe", "Ethan", "Ravi", "Nora"],
    "zh": ["小王", "李同学", "陈女士", "阿杰", "小林", "张先生", "萌萌", "大刘", "周周", "小雨", "老赵", "婷婷", "阿May", "胖虎"],
}  # fmt: skip

OPENERS = {
    "en": {
        1: ["Love it!", "Very happy with this {item}.", "Exactly what I was looking for.", "Bought this as a gift and it went down well.",
            "Second time buying this {item}.", "Really pleased.", "Great little {item}."],
        0: ["It's okay.", "Mixed feelings about this one.", "Decent {item}, with a couple of caveats.", "Not bad, not amazing.",
            "Does the job, mostly."],
        -1: ["Disappointed.", "Not what I hoped for.", "I wanted to like this {item}.", "Honestly a letdown.",
             "Would not buy again."],
    },
    "zh": {
        1: ["很喜欢！", "非常满意。", "第二次购买了。", "给家人买的，大家都说好。", "这个{item}真的不错。", "超出预期！"],
        0: ["还行吧。", "一般般。", "中规中矩。", "有好有坏。", "凑合。"],
        -1: ["很失望。", "不太满意。", "踩雷了。", "这个{item}不推荐。", "和想象的差太多。"],
    },
}  # fmt: skip
CLOSERS = {
    "en": {1: ["Would recommend.", "Will buy again.", "No regrets.", "Highly recommend it."],
           0: ["Fine for the price, I suppose.", "Might keep it.", "Three stars from me."],
           -1: ["Returning it.", "Save your money.", "Asked for a refund."]},
    "zh": {1: ["推荐购买！", "会回购的。", "好评！", "五星好评。"],
           0: ["凑合用吧。", "总体还可以。", "不好不坏。"],
           -1: ["已经退货了。", "不会再买了。", "大家慎重。"]},
}  # fmt: skip

# aspect -> language -> polarity -> sentences ({item} is the product's name)
SENTENCES = {
    "quality": {
        "en": {1: ["The quality is excellent.", "Really well made.", "Feels sturdy and solid.", "Good quality, it has held up to daily use.",
                   "Built to last.", "The materials feel premium."],
               -1: ["The quality is poor and it feels flimsy.", "It fell apart after two weeks.", "Cheaply made, to be honest.",
                    "Mine broke within a month.", "The material is paper thin."]},
        "zh": {1: ["质量很好，做工精细。", "用料扎实，很结实。", "做工不错，质感很好。", "质量超出预期，用了一个月依然很好。", "品质不错，很耐用。"],
               -1: ["质量一般，做工粗糙。", "用了几天就坏了。", "有线头，质感差。", "材质很薄，一分钱一分货吧。", "才用两周就开线了。"]},
    },
    "freshness": {
        "en": {1: ["Fresh and tasty.", "Arrived very fresh.", "Nice and fresh, my kids finished them in a day."],
               -1: ["Some of them were bruised.", "Half of it was stale.", "A few had gone off already."]},
        "zh": {1: ["很新鲜，很好吃。", "新鲜度很好。", "非常新鲜，孩子很爱吃。"],
               -1: ["有几个烂了。", "不新鲜，有点失望。", "收到时已经蔫了。"]},
    },
    "size": {
        "en": {1: ["True to size.", "Fits perfectly.", "The sizing is accurate, I took my usual size.", "Perfect fit for me."],
               -1: ["It runs small, order a size up.", "Too tight across the shoulders.", "Runs large, I had to size down.",
                    "Way too big for me.", "Smaller than expected."]},
        "zh": {1: ["尺码标准，很合身。", "大小正好。", "按平时的码数买的，刚刚好。", "版型很好，很合身。"],
               -1: ["尺码偏小，建议拍大一码。", "有点紧，穿着勒。", "偏大，建议拍小一码。", "太大了，不合身。", "比想象的小。"]},
    },
    "price": {
        "en": {1: ["Great value for money.", "Worth every penny.", "A bargain at this price.", "Very reasonably priced."],
               -1: ["Overpriced for what it is.", "Too expensive for the quality.", "Not worth the money.", "A bit pricey."]},
        "zh": {1: ["性价比很高。", "价格实惠，很划算。", "物超所值。", "这个价格很值得。"],
               -1: ["有点贵，不太值。", "性价比不高。", "价格偏贵。", "感觉交了智商税。"]},
    },
    "comfort": {
        "en": {1: ["Very comfortable.", "Soft and comfy.", "Comfortable even after hours of use.", "Lightweight and comfortable."],
               -1: ["Quite uncomfortable after an hour.", "Stiff and uncomfortable.", "Heavier than I expected.",
                    "It digs in after a while."]},
        "zh": {1: ["很舒服。", "用起来很舒适。", "很轻便，舒适度满分。", "软软的，很舒服。"],
               -1: ["不太舒服，有点硬。", "用久了不舒服。", "太重了，用久了很累。", "硬邦邦的，不舒服。"]},
    },
    "delivery": {
        "en": {1: ["Fast delivery.", "Arrived quickly and well packaged.", "Came the next day.", "Shipping was quick."],
               -1: ["Delivery took ages.", "It arrived late.", "The box arrived damaged.", "Took three weeks to arrive."]},
        "zh": {1: ["物流很快。", "发货很快，包装严实。", "第二天就到了。", "快递很快，包装很好。"],
               -1: ["物流太慢了。", "等了一个星期才到。", "快递盒子压坏了。", "发货慢，等了好久。"]},
    },
    "looks": {
        "en": {1: ["Looks great.", "The colour is lovely, exactly as pictured.", "Beautiful design.", "Looks more expensive than it is."],
               -1: ["The colour is not as pictured.", "Looks cheap in person.", "The colour faded after one wash.", "Duller than the photo."]},
        "zh": {1: ["很好看，颜值高。", "颜色正，和图片一样。", "设计很漂亮。", "款式很时尚。"],
               -1: ["有色差，和图片不一样。", "实物有点难看。", "洗了一次就褪色了。", "颜色发暗，不太好看。"]},
    },
}  # fmt: skip


def main() -> None:
    rng = random.Random(SEED)
    products = [json.loads(line) for line in (CATALOGUE / "products.jsonl").read_text(encoding="utf-8").splitlines()]
    names = _item_names(products)
    if PHOTOS.exists():
        shutil.rmtree(PHOTOS)
    PHOTOS.mkdir()
    reviews, sources = [], []
    for product in products:
        for n in range(rng.choices(range(len(COUNT_WEIGHTS)), weights=COUNT_WEIGHTS)[0]):
            review = _review(product, names[product["id"]], f"{product['id']}-r{n + 1}", rng)
            if rng.random() < PHOTO_SHARE:
                review.update(_photo(review["id"], product, products, rng, sources))
            reviews.append(review)
    with (CATALOGUE / "reviews.jsonl").open("w", encoding="utf-8") as handle:
        for review in reviews:
            handle.write(json.dumps(review, ensure_ascii=False) + "\n")
    _write_sources(sources, len(reviews))
    mismatched = sum(r.get("photo_of", r["product_id"]) != r["product_id"] for r in reviews)
    print(f"{len(reviews)} reviews of {len(products)} products, {len(sources)} with photos ({mismatched} of another product)")


def _item_names(products: list[dict]) -> dict[str, dict[str, str]]:
    """Product id -> the item's plain name in each language ("classic t-shirt", "经典T恤")."""
    by_key = {f"{item.category}-{item.key}": item for item in ITEMS}
    names = {}
    for product in products:
        item = by_key[product["id"].rsplit("-", 1)[0]]
        names[product["id"]] = {"en": item.name.lower(), "zh": item.name_zh}
    return names


def _review(product: dict, names: dict[str, str], review_id: str, rng: random.Random) -> dict:
    stars = _stars(product.get("rating") or 4.0, rng)
    language = rng.choice(["en", "zh"])
    tone = 1 if stars >= 4 else -1 if stars <= 2 else 0
    length = rng.choices(["short", "medium", "long"], weights=[3, 5, 2])[0]
    sentences = [rng.choice(OPENERS[language][tone])]
    for aspect, polarity in _opinions(product, stars, length, rng):
        sentences.append(rng.choice(SENTENCES[aspect][language][polarity]))
    if length != "short" or rng.random() < 0.3:
        sentences.append(rng.choice(CLOSERS[language][tone]))
    text = ("" if language == "zh" else " ").join(sentences).format(item=names[language])
    age = int(rng.triangular(0, 540, 30))
    helpful = min(40, int(rng.expovariate(1.0 / (0.5 + 1.5 * len(sentences)))))
    return {"id": review_id, "product_id": product["id"], "stars": stars, "language": language, "text": text,
            "author": rng.choice(AUTHORS[language]), "date": (NEWEST - timedelta(days=age)).isoformat(),
            "helpful": helpful, "generated": True}  # fmt: skip


def _stars(rating: float, rng: random.Random) -> int:
    """Stars scattered around the product's rating, with a floor so good products get critics too."""
    weights = [math.exp(-1.4 * abs(stars - rating)) + 0.04 for stars in range(1, 6)]
    return rng.choices(range(1, 6), weights=weights)[0]


def _opinions(product: dict, stars: int, length: str, rng: random.Random) -> list[tuple[str, int]]:
    category, item = product["category"], product["id"].rsplit("-", 1)[0]
    aspects = ["freshness" if category == "food" else "quality", "price", "delivery", "looks"]
    aspects += ["size"] * bool({category, item} & SIZED) + ["comfort"] * bool({category, item} & COMFORTABLE)
    count = {"short": rng.choice([0, 1]), "medium": 2, "long": 3}[length]
    chosen = rng.sample(aspects, min(count, len(aspects)))
    praise = {5: [1, 1, 1], 4: [1, 1, -1 if rng.random() < 0.35 else 1], 3: [1, -1, rng.choice([1, -1])],
              2: [-1, -1, 1 if rng.random() < 0.4 else -1], 1: [-1, -1, -1]}[stars]  # fmt: skip
    order = rng.sample(range(len(chosen)), len(chosen))  # the odd one out is not always last
    return [(aspect, praise[i]) for aspect, i in zip(chosen, order)]


def _photo(review_id: str, product: dict, products: list[dict], rng: random.Random, sources: list[dict]) -> dict:
    shown = product
    if rng.random() < MISMATCH_SHARE:
        shown = rng.choice([p for p in products if p["category"] != product["category"]])
    with Image.open(CATALOGUE / shown["image"]) as original:
        image = _phone_snap(original.convert("RGB"), rng)
    name = f"review-images/{review_id}.jpg"
    image.save(CATALOGUE / name, "JPEG", quality=70, optimize=True)
    mismatch = " (deliberately of another product)" if shown is not product else ""
    sources.append({"image": name, "source": "generated", "licence": "CC0 (made by build_reviews.py)",
                    "transform": f"crop, rotation, lighting and tint of {shown['image']}{mismatch}"})  # fmt: skip
    return {"photo": name, "photo_of": shown["id"]}


def _phone_snap(image: Image.Image, rng: random.Random) -> Image.Image:
    """A product picture as a shopper might photograph it: off-centre, tilted, relit, warmer or cooler."""
    width, height = image.size
    scale = rng.uniform(0.7, 0.92)
    w, h = int(width * scale), int(height * scale)
    left, top = rng.randint(0, width - w), rng.randint(0, height - h)
    image = image.crop((left, top, left + w, top + h)).rotate(rng.uniform(-9, 9), fillcolor=(232, 228, 220))
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.82, 1.12))
    tint = Image.new("RGB", image.size, rng.choice([(255, 226, 190), (200, 220, 255), (240, 240, 240)]))
    image = Image.blend(image, tint, rng.uniform(0.04, 0.14))
    return ImageOps.fit(image, (PHOTO_SIZE, PHOTO_SIZE))


def _write_sources(photos: list[dict], count: int) -> None:
    """Replace this script's rows in SOURCES.csv (the catalogue's own rows stay as they are)."""
    path = CATALOGUE / "SOURCES.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["source"] != "generated"]
    rows.append({"image": "reviews.jsonl", "source": "generated", "licence": "CC0 (written by build_reviews.py)",
                 "transform": f"{count} synthetic reviews from hand-written sentences, seed {SEED}; not real shoppers"})  # fmt: skip
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "source", "licence", "transform"])
        writer.writeheader()
        writer.writerows(rows + photos)


if __name__ == "__main__":
    main()
