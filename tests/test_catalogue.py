import json

import pytest

from engine.catalogue.products import load_catalogue
from engine.errors import CatalogueError
from tests.conftest import draw_product, write_catalogue


def test_good_rows_load_as_typed_products(catalogue_path):
    catalogue = load_catalogue(catalogue_path)
    assert len(catalogue.products) == 12 and catalogue.problems == []
    product = catalogue.by_id()["p003"]
    assert product.price == 40.0 and product.category == "shoes" and product.tags == ("black", "shoes")
    assert product.image.is_absolute() and product.image.is_file()
    assert product.title_zh == "产品3" and product.description_zh is None


def test_bad_rows_are_reported_with_line_and_reason_and_good_rows_kept(tmp_path):
    folder = tmp_path / "shop"
    (folder / "images").mkdir(parents=True)
    draw_product(folder / "images" / "ok.png", "red", "circle")
    (tmp_path / "secret.png").write_bytes((folder / "images" / "ok.png").read_bytes())
    base = {"title": "T", "category": "shoes", "price": 5, "image": "images/ok.png"}
    bad = [
        "{not json",
        json.dumps({**base, "id": "neg", "price": -3}),
        json.dumps({**base, "id": "notitle", "title": ""}),
        json.dumps({**base, "id": "escape", "image": "../secret.png"}),
        json.dumps({**base, "id": "absolute", "image": str(tmp_path / "secret.png")}),
        json.dumps({**base, "id": "missing", "image": "images/nope.png"}),
        json.dumps({**base, "id": "bad id!"}),
        json.dumps({**base, "id": "p000"}),  # duplicate of the first good row
        json.dumps({**base, "id": "rating", "rating": 7}),
        "[1, 2]",
    ]
    path = write_catalogue(folder, count=3, extra_rows=bad)
    catalogue = load_catalogue(path)
    assert [p.id for p in catalogue.products] == ["p000", "p001", "p002"]
    reasons = {problem.line: problem.reason for problem in catalogue.problems}
    assert sorted(reasons) == list(range(4, 14))
    assert "not valid JSON" in reasons[4]
    assert "price" in reasons[5] and "greater than or equal to 0" in reasons[5]
    assert "title" in reasons[6]
    assert "leaves the catalogue folder" in reasons[7]
    assert "must be relative" in reasons[8]
    assert "image not found" in reasons[9]
    assert reasons[10].startswith("id:")
    assert "duplicate id" in reasons[11]
    assert "rating" in reasons[12]
    assert "not a JSON object" in reasons[13]
    assert str(catalogue.problems[1]) == f"line 5 (neg): {reasons[5]}"


def test_csv_catalogue_with_tag_separators_and_color_alias(tmp_path):
    draw_product(tmp_path / "a.png", "blue", "square")
    (tmp_path / "shop.csv").write_text(
        "id,title,category,price,color,tags,image,rating,notes\n"
        "a1,Blue Bag,Bags,12.5,Blue,travel|school; canvas,a.png,,internal note\n"
        "a2,Broken,bags,abc,blue,,a.png,4,\n"
        "a3,Too many,bags,1,blue,,a.png,4,x,extra\n",
        encoding="utf-8",
    )
    catalogue = load_catalogue(tmp_path / "shop.csv")
    (product,) = catalogue.products
    assert (product.id, product.category, product.colour, product.rating) == ("a1", "bags", "blue", None)
    assert product.tags == ("travel", "school", "canvas")
    assert [(p.line, p.product_id) for p in catalogue.problems] == [(3, "a2"), (4, "a3")]
    assert "price" in catalogue.problems[0].reason


def test_content_hash_follows_row_and_image_bytes(catalogue_path):
    product = load_catalogue(catalogue_path).by_id()["p001"]
    before = product.content_hash()
    assert product.model_copy(update={"price": 99.0}).content_hash() != before
    draw_product(product.image, "green", "square")
    assert product.content_hash() != before


@pytest.mark.parametrize("name, content, message", [
    ("missing.jsonl", None, "not found"),
    ("shop.txt", "hello", "must be .csv or .jsonl"),
    ("shop.csv", "title,price\nx,1\n", "header row with at least an `id`"),
    ("latin1.jsonl", "caf\xe9".encode("latin-1"), "not UTF-8"),
])  # fmt: skip
def test_unreadable_catalogue_files_raise_a_clear_error(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(path)


def test_bundled_demo_catalogue_is_complete():
    from engine.settings import BUNDLED_CATALOGUE

    catalogue = load_catalogue(BUNDLED_CATALOGUE)
    assert catalogue.problems == []
    assert len(catalogue.products) >= 300
    assert len({p.category for p in catalogue.products}) >= 12
    for product in catalogue.products:
        assert product.title_zh and product.description and product.description_zh
        assert product.rating is not None and product.colour and product.tags and product.price > 0
    sources = {line.split(",")[0]: line for line in (BUNDLED_CATALOGUE.parent / "SOURCES.csv").read_text().splitlines()[1:]}
    products = {f"images/{p.image.name}" for p in catalogue.products}
    assert {name for name in sources if name.startswith("images/")} == products  # every product image, no other
    review_photos = {f"review-images/{path.name}" for path in (BUNDLED_CATALOGUE.parent / "review-images").iterdir()}
    assert {name for name in sources if name.startswith("review-images/")} == review_photos
    assert all("generated" in sources[name] for name in review_photos)  # synthetic, and labelled so
