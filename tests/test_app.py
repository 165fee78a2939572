"""The app's JSON API and MCP tools, launched in-process and called as programs call them.

gradio_client for the named endpoints, the official MCP client for the tools, plain HTTP for the
picture route and for a hand-made request that tries to smuggle in a server file.
"""

import asyncio
import json
import subprocess
import sys

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from engine.settings import PROJECT_ROOT
from tests.app_server import running_app

EXAMPLES = PROJECT_ROOT / "assets" / "examples"


@pytest.fixture(scope="module")
def app(bundled_settings, shared_speech):
    with running_app(bundled_settings(top_k=8), speech=shared_speech) as (url, shop):
        yield Client(url, verbose=False), shop, url


def search(client, **arguments):
    return client.predict(**arguments, api_name="/search_products")


def test_the_api_is_named_typed_and_nothing_else_is_public(app):
    client, _, _ = app
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert sorted(endpoints) == ["/get_product", "/recommend", "/search_products", "/similar_products"]
    parameters = [p["parameter_name"] for p in endpoints["/search_products"]["parameters"]]
    assert parameters == ["query", "image", "audio", "categories", "colours", "price_min", "price_max", "rating_min",
                          "exclude", "sort", "k", "offset", "shopper", "lang"]  # fmt: skip
    assert all(p["parameter_has_default"] for p in endpoints["/search_products"]["parameters"])  # all optional


def test_search_returns_products_understood_filters_facets_and_total(app):
    client, shop, url = app
    result = search(client, query="红色的跑步鞋 100元以下", k=3)
    assert [u["key"] for u in result["understood"]] == ["price", "colour:red", "category:shoes"]
    assert len(result["products"]) == 3 and result["total"] >= 3
    for product in result["products"]:
        assert product["colour"] == "red" and product["category"] == "shoes" and product["price"] <= 100
        assert product["title_zh"] and product["currency"] == "USD" and product["why"] and product["score"] > 0
        assert product["image_url"] == f"{url}img/{product['id']}"
        picture = httpx.get(product["image_url"], timeout=30)
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    shoes = {v["value"]: v["count"] for v in result["facets"]["category"]}["shoes"]
    assert shoes == result["total"]


def test_paging_sorting_filtering_and_chinese(app):
    client, _, _ = app
    first = search(client, query="gift", k=5, sort="price_asc", categories=["toys"])
    second = search(client, query="gift", k=5, offset=5, sort="price_asc", categories=["toys"])
    prices = [p["price"] for p in first["products"] + second["products"]]
    assert prices == sorted(prices) and len(prices) == 10
    assert {p["id"] for p in first["products"]}.isdisjoint(p["id"] for p in second["products"])
    assert all(p["category"] == "toys" for p in first["products"] + second["products"])
    assert [(f["key"], f["label"]) for f in first["filters"]] == [("filter:category:toys", "toys")]  # the caller's own
    assert first["understood"] == []
    browse = search(client, colours=["blue"], k=4, lang="zh")
    assert browse["summary"].endswith("件商品") and all(p["colour"] == "blue" for p in browse["products"])
    assert all(p["name"] == p["title_zh"] for p in browse["products"])


def test_photo_and_voice_through_the_api(app, speak):
    client, _, _ = app
    photo = search(client, image=handle_file(str(EXAMPLES / "photo_red_shoe.jpg")), k=4)
    assert len(photo["products"]) == 4 and "your photo" in photo["summary"]
    voice = search(client, audio=handle_file(str(speak("show me a blue backpack for school"))), k=4)
    assert voice["transcript"].lower().rstrip(".") == "show me a blue backpack for school"
    assert "colour:blue" in {u["key"] for u in voice["understood"]}
    assert all(p["colour"] == "blue" for p in voice["products"]) and "backpack" in voice["products"][0]["title"].lower()


def test_product_similar_and_recommendations(app):
    client, shop, _ = app
    product = client.predict(product_id="music-violin-red", shopper="api-shopper", api_name="/get_product")
    assert product["title"] == "Red Violin" and product["description"] and product["similar"]
    assert shop.events.history("api-shopper")[0].kind == "view"
    similar = client.predict(product_id="music-violin-red", k=3, api_name="/similar_products")
    assert len(similar) == 3 and "music-violin-red" not in {p["id"] for p in similar}
    client.predict(product_id="music-cello-red", shopper="api-shopper", api_name="/get_product")
    recommended = client.predict(shopper="api-shopper", k=5, api_name="/recommend")
    assert recommended["cold"] is False and len(recommended["products"]) == 5
    assert any("because you viewed" in p["why"] for p in recommended["products"])
    stranger = client.predict(shopper="nobody-yet", k=3, api_name="/recommend")
    assert stranger["cold"] is True


@pytest.mark.parametrize("arguments, message", [
    ({"query": "lamp", "price_min": 90, "price_max": 10}, "lowest price is above the highest price"),
    ({"query": "lamp", "sort": "cheapest"}, "sort must be one of"),
    ({"query": "lamp", "k": 500}, "k must be between 1 and 50"),
    ({"query": "lamp", "price_min": 90, "price_max": 10, "lang": "zh"}, "最低价高于最高价"),
])  # fmt: skip
def test_bad_arguments_get_a_clear_message(app, arguments, message):
    client, _, _ = app
    with pytest.raises(AppError, match=message) as caught:
        search(client, **arguments)
    assert "Traceback" not in str(caught.value)


@pytest.mark.parametrize("kind, content, message", [
    ("image", b"this is not a picture", "not an image we can read"),
    ("image", b"", "empty"),
    ("audio", b"this is not a sound", "not audio we can read"),
])  # fmt: skip
def test_bad_uploads_get_a_readable_message_and_change_nothing(app, tmp_path, kind, content, message):
    client, shop, _ = app
    path = tmp_path / ("upload.png" if kind == "image" else "upload.wav")
    path.write_bytes(content)
    before = shop.store.count()
    with pytest.raises(AppError, match=message) as caught:
        search(client, **{kind: handle_file(str(path))})
    assert "Traceback" not in str(caught.value)
    assert shop.store.count() == before and len(search(client, query="present", k=8)["products"]) == 8


def test_twenty_thousand_characters_of_text(app):
    client, _, _ = app
    result = search(client, query="lovely " * 3000, k=8)
    assert len(result["products"]) == 8 and any("first 1000 characters" in notice for notice in result["notices"])


def test_server_files_cannot_be_smuggled_in_as_uploads(app, tmp_path):
    client, _, url = app
    secret = tmp_path / "secret.png"
    Image.new("RGB", (40, 40), "red").save(secret)
    payload = {"data": ["", {"path": str(secret), "meta": {"_type": "gradio.FileData"}}, None, None, None, None, None,
                        None, "", "relevance", 12, 0, "", "en"]}  # fmt: skip
    call = httpx.post(f"{url}gradio_api/call/search_products", json=payload, timeout=30)
    assert call.status_code == 403 and "did not come from an upload" in call.text and str(secret) not in call.text
    fetch = {"data": ["", {"path": "http://127.0.0.1:1/x.png", "meta": {"_type": "gradio.FileData"}}]}
    assert httpx.post(f"{url}gradio_api/call/search_products", json=fetch, timeout=30).status_code == 403
    assert httpx.get(f"{url}img/..%2F..%2Fetc%2Fpasswd", timeout=30).status_code == 404
    assert httpx.get(f"{url}gradio_api/file={secret}", timeout=30).status_code in (403, 404)


def test_mcp_lists_the_tools_and_searches(app):
    _, _, url = app
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async def call() -> tuple[dict, dict]:
        async with streamablehttp_client(f"{url}gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = {tool.name: tool for tool in (await session.list_tools()).tools}
                found = await session.call_tool("search_products", {"query": "teddy bear under $40", "k": 2})
                return tools, found

    tools, found = asyncio.run(call())
    assert {"search_products", "get_product", "similar_products", "recommend"} <= set(tools)
    assert "Chinese" in tools["search_products"].description and "query" in tools["search_products"].inputSchema["properties"]
    result = json.loads(found.content[0].text)  # JSON, not a Python repr
    assert len(result["products"]) == 2 and all(p["price"] <= 40 for p in result["products"])
    assert all("teddy" in p["title"].lower() for p in result["products"])


def test_app_module_is_light_to_import_and_says_why_it_cannot_start(tmp_path):
    probe = subprocess.run([sys.executable, "-c", "import app, sys; print('torch' in sys.modules, 'gradio' in sys.modules)"],
                           cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert probe.stdout.split() == ["False", "False"]
    env = {"SHOPLENS_CLIP_MODEL": "no-such-clip", "SHOPLENS_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin",
           "HF_HUB_OFFLINE": "1", "SHOPLENS_OFFLINE": "never"}  # fmt: skip
    run = subprocess.run([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("ShopLens cannot start: Could not load CLIP model 'no-such-clip'")
    assert "SHOPLENS_CLIP_PRETRAINED" in last and "Traceback" not in run.stderr


def test_plain_json_api_answers_curl_in_one_request_the_way_a_backend_uses_it(app):
    """Search, refine, open a product, ask for similar ones and recommendations: named fields, no Gradio protocol."""
    _, _, url = app
    shopper = "backend-7"
    first = httpx.post(f"{url}api/search_products", json={"query": "teddy bear", "k": 3, "shopper": shopper}, timeout=60)
    assert first.status_code == 200 and len(first.json()["products"]) == 3
    refined = httpx.post(f"{url}api/search_products", json={"query": "teddy bear", "price_max": 20, "k": 3}, timeout=60).json()
    assert refined["products"] and all(p["price"] <= 20 for p in refined["products"])
    assert refined["total"] < first.json()["total"]
    chosen = first.json()["products"][0]["id"]
    opened = httpx.get(f"{url}api/products/{chosen}", params={"shopper": shopper, "lang": "zh"}, timeout=60).json()
    assert opened["id"] == chosen and opened["name"] == opened["title_zh"] != opened["title"] and opened["similar"]
    similar = httpx.get(f"{url}api/products/{chosen}/similar", params={"k": 4}, timeout=60).json()
    assert len(similar) == 4 and chosen not in {p["id"] for p in similar}
    picked = httpx.get(f"{url}api/recommend", params={"shopper": shopper, "k": 5}, timeout=60).json()
    assert picked["cold"] is False and len(picked["products"]) == 5  # the view above made this shopper known
    bad = httpx.post(f"{url}api/search_products", json={"query": "bear", "sort": "cheapest"}, timeout=60)
    assert bad.status_code == 400 and bad.json()["error"].startswith("sort must be one of")
    unknown = httpx.post(f"{url}api/search_products", json={"query": "bear", "image": "/etc/passwd"}, timeout=60)
    assert unknown.status_code == 422 and "/etc/passwd" not in unknown.text.split('"input"')[0]  # no files by path
    missing = httpx.get(f"{url}api/products/no-such-product", timeout=60)
    assert missing.status_code == 400 and "Traceback" not in missing.text
