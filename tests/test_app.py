"""The Gradio app, launched in-process, driven through its public API with gradio_client."""

import subprocess
import sys

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from engine.settings import PROJECT_ROOT
from tests.app_server import running_app


@pytest.fixture(scope="module")
def app(bundled_settings, shared_speech):
    with running_app(bundled_settings(top_k=8), speech=shared_speech) as (url, shop):
        yield Client(url, verbose=False), shop


def search(client, text="", image=None, audio=None, categories=(), price_min=None, price_max=None, colours=(),
           rating_min=0, negative="", text_weight=0.5, mode="Hybrid (words + vectors)", translate=False,
           spoken="Detect", shopper="", personalise=False):  # fmt: skip
    files = [handle_file(str(x)) if x else None for x in (image, audio)]
    outputs = client.predict(text, *files, list(categories), price_min, price_max, list(colours), rating_min, negative,
                             text_weight, mode, translate, spoken, shopper, personalise, api_name="/search")  # fmt: skip
    return outputs[:3]  # gallery, transcript, summary (then the filters as understood)


def test_search_endpoint_is_public_and_named(app):
    client, _ = app
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert list(endpoints) == ["/search"]
    parameters = [p["parameter_name"] for p in endpoints["/search"]["parameters"]]
    assert parameters == ["text", "image", "audio", "categories", "price_min", "price_max", "colours", "rating_min",
                          "negative", "text_weight", "mode", "translate", "spoken", "shopper", "personalise"]  # fmt: skip


def test_text_search_returns_a_captioned_gallery(app):
    client, shop = app
    gallery, transcript, summary = search(client, "a gift for my sister")
    assert len(gallery) == 8 and transcript == "" and "100 products found" in summary
    titles = {p.title for p in shop.store.products(sorted(shop.store.stored_product_ids())).values()}
    for item in gallery:
        assert item["caption"].split(" · ")[0] in titles and " · $" in item["caption"] and "★" in item["caption"]
        with Image.open(item["image"]) as image:
            assert image.size == (320, 320)


def test_photo_search_with_filters(app):
    client, shop = app
    photo = PROJECT_ROOT / "assets" / "examples" / "photo_red_shoe.jpg"
    gallery, _, _ = search(client, image=photo, categories=["shoes"], price_max=100)
    assert gallery
    by_title = {p.title: p for p in shop.store.products(sorted(shop.store.stored_product_ids())).values()}
    for item in gallery:
        product = by_title[item["caption"].split(" · ")[0]]
        assert product.category == "shoes" and product.price <= 100


def test_voice_search_shows_the_transcript(app, speak):
    client, _ = app
    gallery, transcript, _ = search(client, audio=speak("show me a blue backpack for school"))
    assert transcript.lower().rstrip(".") == "show me a blue backpack for school" and len(gallery) == 8


@pytest.mark.parametrize("kind, content, message", [
    ("image", b"this is not a picture", "not an image we can read"),
    ("image", b"", "empty"),
    ("audio", b"this is not a sound", "not audio we can read"),
])  # fmt: skip
def test_bad_uploads_get_a_readable_message(app, tmp_path, kind, content, message):
    client, shop = app
    path = tmp_path / ("upload.png" if kind == "image" else "upload.wav")
    path.write_bytes(content)
    before = shop.store.count()
    with pytest.raises(AppError, match=message) as caught:
        search(client, **{kind: path})
    assert "Traceback" not in str(caught.value)
    assert shop.store.count() == before and len(search(client, "present")[0]) == 8


def test_words_become_filters_returned_to_the_ui(app):
    client, _ = app
    outputs = client.predict("红色的跑步鞋 100元以下", None, None, [], None, None, [], 0, "", 0.5, "Hybrid (words + vectors)",
                             False, "Detect", "", False, api_name="/search")  # fmt: skip
    gallery, _, summary, text, categories, colours, price_min, price_max = outputs
    assert (text, categories, colours, price_min, price_max) == ("跑步", ["shoes"], ["red"], 0, 100)
    assert gallery and "Understood from your words" in summary and "**Category**: shoes" in summary


def test_api_clients_can_personalise_with_a_shopper_id(app):
    client, shop = app
    for product_id in ("music-violin-red", "music-cello-red", "music-trumpet-red"):
        shop.personal.record("api-shopper", "view", product_id=product_id)
    plain, _, _ = search(client, "red")
    personal, _, _ = search(client, "red", shopper="api-shopper", personalise=True)
    music = {p.title for p in shop.store.products(sorted(shop.store.stored_product_ids())).values() if p.category == "music"}
    count = lambda gallery: sum(item["caption"].split(" · ")[0] in music for item in gallery)  # noqa: E731
    assert count(personal) > count(plain)
    assert any("because you viewed" in item["caption"] for item in personal)
    assert shop.events.history("api-shopper")[0].kind == "search"  # the API search was recorded too


def test_empty_query_and_inverted_price_range_are_explained(app):
    client, _ = app
    with pytest.raises(AppError, match="Type something, add a photo or record your voice"):
        search(client, "")
    with pytest.raises(AppError, match="lowest price is above the highest price"):
        search(client, "lamp", price_min=90, price_max=10)


def test_twenty_thousand_characters_of_text(app):
    client, _ = app
    gallery, _, summary = search(client, "lovely " * 3000)
    assert len(gallery) == 8 and "first 1000 characters" in summary


def test_server_files_outside_the_upload_folder_cannot_be_smuggled_in(app, tmp_path):
    client, _ = app
    secret = tmp_path / "secret.png"
    Image.new("RGB", (40, 40), "red").save(secret)
    call = httpx.post(f"{client.src.rstrip('/')}/gradio_api/call/search", timeout=30,
                      json={"data": ["", {"path": str(secret), "meta": {"_type": "gradio.FileData"}}, None, [], None, None, [], 0, "",
                            0.5, "Hybrid (words + vectors)", False, "Detect", "", False]})  # fmt: skip
    assert call.status_code == 200
    with httpx.stream("GET", f"{client.src.rstrip('/')}/gradio_api/call/search/{call.json()['event_id']}", timeout=30) as events:
        stream = "".join(events.iter_text())
    assert stream.startswith("event: error") and "products found" not in stream


def test_app_module_is_light_to_import_and_says_why_it_cannot_start(tmp_path):
    probe = subprocess.run([sys.executable, "-c", "import app, sys; print('torch' in sys.modules, 'gradio' in sys.modules)"],
                           cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert probe.stdout.split() == ["False", "False"]
    env = {"SHOPLENS_CLIP_MODEL": "no-such-clip", "SHOPLENS_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin",
           "HF_HUB_OFFLINE": "1"}  # fmt: skip
    run = subprocess.run([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("ShopLens cannot start: Could not load CLIP model 'no-such-clip'")
    assert "SHOPLENS_CLIP_PRETRAINED" in last and "Traceback" not in run.stderr
