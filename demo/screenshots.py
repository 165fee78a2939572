"""Screenshots of the shopper page for the README, taken in a real Chromium.

    python -m demo.screenshots                      # starts ShopLens itself, offline (tiny random CLIP)
    python -m demo.screenshots --url http://127.0.0.1:7860/ --out /tmp/shots

Without ``--url`` it serves the bundled catalogue with the small random CLIP the tests use (no
download), so words carry the ranking. Writes desktop.png, desktop-zh.png and phone.png.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from engine.settings import BUNDLED_CATALOGUE, PROJECT_ROOT, Settings

OUT = PROJECT_ROOT / "assets" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]  # fmt: skip


@contextlib.contextmanager
def offline_app() -> Iterator[str]:
    import uvicorn

    from demo.server import BackgroundServer, create_app
    from engine.service import ShopLens

    with tempfile.TemporaryDirectory(prefix="shoplens-shots-") as data:
        settings = Settings(_env_file=None, data_dir=Path(data), catalog=BUNDLED_CATALOGUE, clip_model="shoplens-tiny",
                            clip_pretrained="none", clip_config_dir=PROJECT_ROOT / "assets" / "clip-configs", top_k=12)  # fmt: skip
        shop = ShopLens(settings)
        shop.start(speech=False)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = BackgroundServer(uvicorn.Config(create_app(shop), host="127.0.0.1", port=port, log_level="warning"))
        thread = server.start()
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            server.stop(thread)


def shoot(url: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for name, viewport, locale, words, open_first in (
            ("desktop.png", {"width": 1400, "height": 900}, "en-US", "red shoes under $100", True),
            ("desktop-zh.png", {"width": 1400, "height": 900}, "zh-CN", "100元以下的玩具", False),
            ("phone.png", {"width": 390, "height": 844}, "en-US", "teddy bear", False),
        ):  # fmt: skip
            context = browser.new_context(viewport=viewport, locale=locale, device_scale_factor=1)
            page = context.new_page()
            page.set_default_timeout(120_000)
            page.goto(url)
            page.wait_for_selector("#results .sl-card")
            before = page.locator("#summary").inner_html()
            page.fill("#query-text textarea", words)
            page.click("#search-button")
            page.wait_for_function("(b) => document.querySelector('#summary').innerHTML !== b", arg=before)
            page.wait_for_function("[...document.querySelectorAll('#results img')].every(i => i.complete && i.naturalWidth)")
            if open_first:
                page.locator("#results .sl-card").first.click()
                page.wait_for_selector("#detail-text .sl-why")
                page.wait_for_function("[...document.querySelectorAll('#similar img')].slice(0, 3).every(i => i.complete && i.naturalWidth)")
            page.wait_for_timeout(500)
            page.screenshot(path=str(out / name))
            written.append(out / name)
            context.close()
        browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.screenshots", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running ShopLens; default: start one offline")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with contextlib.nullcontext(args.url) if args.url else offline_app() as url:
        for path in shoot(url, args.out):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
