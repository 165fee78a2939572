"""The synthetic shop of ``bench/scale.py``: products from word lists, their vectors, and shoppers' queries.

Every product and vector is drawn from a seed made of the catalogue's size and the product's number,
so a size's catalogue is the same every time. ``clustered`` vectors lie around their category and
colour inside a 64-dimensional random subspace, with an offset between the image and text spaces,
as CLIP's do; ``uniform`` ones are drawn from the whole sphere.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np

from engine.catalogue.products import Product
from engine.models.clip import VectorSpace
from engine.settings import PROJECT_ROOT
from engine.types import Query, make_filters

DIM = 512
LATENT = 64  # the subspace clustered vectors vary in
PHOTO = PROJECT_ROOT / "assets" / "examples" / "photo_red_shoe.jpg"

ITEMS = {
    "apparel": ["hoodie", "jacket", "sweater", "shirt", "dress"], "shoes": ["sneaker", "boot", "sandal", "loafer", "trainer"],
    "bags": ["backpack", "handbag", "tote", "satchel", "wallet"], "accessories": ["scarf", "belt", "watch", "cap", "glove"],
    "sports": ["racket", "ball", "helmet", "yoga mat", "dumbbell"], "toys": ["teddy", "puzzle", "robot", "kite", "blocks"],
    "kitchen": ["kettle", "pan", "knife", "blender", "mug"], "home": ["lamp", "cushion", "blanket", "vase", "clock"],
    "electronics": ["headphones", "speaker", "charger", "keyboard", "mouse"], "food": ["tea", "coffee", "honey", "chocolate", "noodles"],
    "stationery": ["notebook", "pen", "pencil", "stapler", "folder"], "music": ["guitar", "violin", "drum", "flute", "ukulele"],
    "garden": ["shovel", "planter", "hose", "rake", "seeds"], "tools": ["hammer", "drill", "wrench", "saw", "pliers"],
}  # fmt: skip
COLOURS = ["black", "blue", "brown", "green", "grey", "orange", "pink", "purple", "red", "silver", "white", "yellow"]
MATERIALS = ["leather", "cotton", "wool", "steel", "bamboo", "ceramic", "canvas", "plastic", "glass", "oak", "linen", "rubber"]
ADJECTIVES = ["classic", "compact", "vintage", "premium", "lightweight", "sturdy", "cosy", "sleek", "rustic", "waterproof",
              "foldable", "handmade", "modern", "travel", "deluxe", "everyday"]  # fmt: skip
BRANDS = [f"{a}{b}" for a in ("Nor", "Vel", "Zen", "Kai", "Lum", "Ori") for b in ("dia", "ora", "ith", "ex", "ova")]
CATEGORIES = list(ITEMS)



class Shop:
    """The catalogue and its vectors, the same every time for the same size and vector kind."""

    def __init__(self, size: int, vectors: str) -> None:
        self.size, self.kind = size, vectors
        rng = np.random.default_rng(7)  # shared by every size: the same centres and subspace
        self.basis = _unit(rng.standard_normal((LATENT, DIM)))
        self.centres = {c: _unit(rng.standard_normal(DIM)) for c in CATEGORIES}
        self.colours = {c: _unit(rng.standard_normal(DIM)) for c in COLOURS}
        self.gap = {kind: 0.6 * _unit(rng.standard_normal(DIM)) for kind in ("image", "text")}  # CLIP's modality gap

    def products(self, start: int, stop: int) -> list[Product]:
        return [self.product(i) for i in range(start, stop)]

    def product(self, i: int) -> Product:
        rng = np.random.default_rng([self.size, i])
        category = CATEGORIES[i % len(CATEGORIES)]
        item, colour = ITEMS[category][int(rng.integers(5))], COLOURS[int(rng.integers(len(COLOURS)))]
        material, adjective, brand = (str(rng.choice(words)) for words in (MATERIALS, ADJECTIVES, BRANDS))
        return Product(
            id=f"p{i:07d}", title=f"{brand} {adjective} {colour} {material} {item}", category=category, colour=colour,
            description=f"A {adjective} {item} in {material}, {rng.choice(ADJECTIVES)} and {rng.choice(ADJECTIVES)}.",
            price=round(float(rng.lognormal(3.5, 1.0)), 2), rating=None if rng.random() < 0.05 else round(float(rng.uniform(1, 5)), 1),
            brand=brand, tags=(material, adjective), image=PHOTO,
        )  # fmt: skip

    def vectors(self, products: list[Product], kind: str) -> np.ndarray:
        """The ``kind`` vector of each product (deterministic per product)."""
        rows = []
        for product in products:
            rng = np.random.default_rng([self.size, int(product.id[1:]), 0 if kind == "image" else 1])
            if self.kind == "uniform":
                rows.append(rng.standard_normal(DIM))
                continue
            base = np.random.default_rng([self.size, int(product.id[1:])])  # shared by both kinds: one product
            latent = self.centres[product.category] + 0.5 * self.colours[product.colour] \
                + 0.9 * _unit(base.standard_normal(LATENT) @ self.basis)  # fmt: skip
            rows.append(_unit(latent) + self.gap[kind] + 0.35 * _unit(rng.standard_normal(DIM)))
        return _unit(np.asarray(rows, np.float32))

    def text_vector(self, text: str) -> np.ndarray:
        """Where a text query lands: near the category and colour its words name, in the text space."""
        rng = np.random.default_rng(zlib.crc32(text.encode()))
        if self.kind == "uniform":
            return _unit(rng.standard_normal(DIM))
        words = text.lower().split()
        vector = sum((self.centres[c] for c, items in ITEMS.items() if any(w in i for i in items for w in words)), np.zeros(DIM))
        vector = vector + sum((0.5 * self.colours[c] for c in COLOURS if c in words), np.zeros(DIM))
        return _unit(_unit(vector + 0.3 * _unit(rng.standard_normal(DIM))) + self.gap["text"])

    def photo_vector(self, rng: np.random.Generator) -> np.ndarray:
        """A shopper's photo of some product: near that product's image vector."""
        product = self.product(int(rng.integers(self.size)))
        return _unit(self.vectors([product], "image")[0] + 0.25 * _unit(rng.standard_normal(DIM)))


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


class InstantEmbedder:
    """Stands in for CLIP: returns the bench's precomputed vectors at once (see the module docstring)."""

    def __init__(self, shop: Shop) -> None:
        self.shop, self.space, self.calls = shop, VectorSpace(f"bench:{shop.kind}", DIM), 0
        self.photo: np.ndarray | None = None  # the vector the next photo query embeds to

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.shop.text_vector(text) for text in texts])

    def embed_images(self, images) -> np.ndarray:
        return np.stack([self.photo for _ in images])


def query_kinds(rng: np.random.Generator) -> dict[str, Callable[[], Query]]:
    return {
        "text": lambda: Query(text=words(rng)),
        "filtered": lambda: Query(text=words(rng), filters=some_filter(rng)),
        "photo": lambda: Query(image=PHOTO),
        "filters only": lambda: Query(filters=some_filter(rng)),
    }


def words(rng: np.random.Generator) -> str:
    """A typed query: an item, often with a material or an adjective (no colour or category, so no filter is read)."""
    item = str(rng.choice(sum(ITEMS.values(), [])))
    extra = [str(rng.choice(MATERIALS))] if rng.random() < 0.6 else []
    extra += [str(rng.choice(ADJECTIVES))] if rng.random() < 0.4 else []
    return " ".join([*extra, item])


def some_filter(rng: np.random.Generator):
    """One of the filters shoppers set: a category, a colour, a price ceiling or a rating floor."""
    choice = int(rng.integers(4))
    if choice == 0:
        return make_filters(categories=[str(rng.choice(CATEGORIES))])
    if choice == 1:
        return make_filters(colours=[str(rng.choice(COLOURS))])
    if choice == 2:
        return make_filters(price_max=float(rng.choice([20, 50, 100])))
    return make_filters(rating_min=4.0)
