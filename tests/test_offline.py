"""No network, no CLIP weights: `python app.py` still serves words-only search and says why photos are off."""

import os
import subprocess
import sys

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from engine.settings import PROJECT_ROOT
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, free_port, stop, wait_until

pytestmark = pytest.mark.browser


def offline_env(tmp_path, whisper_checkpoint, **extra: str) -> dict[str, str]:
    """An app that must download ViT-B-32 weights, from a hub that does not answer, with an empty cache."""
    closed = free_port()  # nothing listens there: the hub "cannot be reached"
    return {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf"),
        "HF_ENDPOINT": f"http://127.0.0.1:{closed}", "SHOPLENS_DATA_DIR": str(tmp_path / "data"),
        "SHOPLENS_MODEL_CACHE_DIR": str(tmp_path / "models"), "SHOPLENS_WHISPER_MODEL": str(whisper_checkpoint),
        "SHOPLENS_HOST": "127.0.0.1", **extra,
    }  # fmt: skip


@pytest.fixture(scope="module")
def offline_app(tmp_path_factory, whisper_checkpoint):
    folder = tmp_path_factory.mktemp("offline")
    port = free_port()
    log = (folder / "app.log").open("w")
    process = subprocess.Popen([sys.executable, "app.py"], cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                               env=offline_env(folder, whisper_checkpoint, SHOPLENS_PORT=str(port)))  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError((folder / "app.log").read_text()[-3000:])
        try:
            return httpx.get(f"{url}healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, what="the offline app answering", timeout=300, every=0.5)
        yield url, folder / "app.log"
    finally:
        stop(process)
        log.close()


def test_words_only_search_works_and_photos_are_refused_with_the_reason(offline_app):
    url, log = offline_app
    client = Client(url, verbose=False)
    # the catalogue is read in the background: wait until the app says it is ready
    wait_until(lambda: httpx.get(f"{url}healthz", timeout=5).json()["ready"], what="the words-only catalogue", every=0.2)
    found = client.predict(query="teddy bear", k=3, api_name="/search_products")
    assert [p for p in found["products"] if "teddy" in p["title"].lower()]
    with pytest.raises(AppError, match="Photo search needs the CLIP model"):
        client.predict(image=handle_file(str(PROJECT_ROOT / "assets" / "examples" / "photo_red_shoe.jpg")),
                       api_name="/search_products")  # fmt: skip
    text = log.read_text()
    assert "cannot be reached" in text and "words-only" in text and "Traceback" not in text


def test_the_page_says_photos_are_off_and_disables_the_photo_button(offline_app):
    from playwright.sync_api import sync_playwright

    url, _ = offline_app
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(90_000)
        page.goto(url)
        page.wait_for_function("document.querySelector('#status-banner')?.innerText.includes('Photo search needs the CLIP model')")
        assert page.locator("#photo-button").is_disabled() and page.locator("#voice-button").is_enabled()
        page.fill("#query-text textarea", "teddy bear")
        page.click("#search-button")
        page.wait_for_function("document.querySelectorAll('#results .sl-card').length > 0 && "
                               "document.querySelector('#summary').innerText.includes('teddy bear')")  # fmt: skip
        browser.close()


def test_offline_never_keeps_the_strict_exit(tmp_path, whisper_checkpoint):
    run = subprocess.run([sys.executable, "app.py"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
                         env=offline_env(tmp_path, whisper_checkpoint, SHOPLENS_OFFLINE="never"))  # fmt: skip
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].startswith("ShopLens cannot start: Could not load CLIP model 'ViT-B-32'")
    assert "cannot be reached" in run.stderr and "Traceback" not in run.stderr
