"""Loading holes stay closed: each test fails if its guard is removed.

- a trained-model file cannot run code when it is loaded;
- only whitelisted image decoders are used (no EPS, which would call Ghostscript);
- the web server serves product pictures by id, and nothing else near the catalogue or the data;
- a request cannot name a server file as its upload (also in tests/test_app.py).
"""

import pickle

import httpx
import pytest
from PIL import EpsImagePlugin

from engine.catalogue.images import load_image
from engine.errors import InvalidInputError
from engine.service import ShopLens
from engine.shoppers.personal import MODEL_FILE
from engine.types import Query
from tests.app_server import running_app
from tests.conftest import write_catalogue


class RunsCode:
    """Unpickling this writes a file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_model_file_that_runs_code_is_refused_not_executed(make_settings, catalogue_path, tmp_path):
    settings = make_settings(catalog=catalogue_path)
    shop = ShopLens(settings)
    shop.start(speech=False)
    marker = tmp_path / "code-ran"
    (settings.data_dir / MODEL_FILE).write_bytes(pickle.dumps({"config": RunsCode(str(marker)), "state": {}, "meta": {}}))
    assert shop.personal.model is None  # falls back to the average-of-history scorer
    assert not marker.exists()


def test_only_plain_raster_formats_are_decoded(tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: opened.append(self) or (_ for _ in ()).throw(OSError))
    eps = tmp_path / "drawing.eps"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(InvalidInputError, match="not an image we can read"):
        load_image(eps, max_bytes=10_000_000, max_pixels=10_000_000)
    assert opened == []  # Pillow's EPS reader was never tried


@pytest.fixture(scope="module")
def app_beside_secrets(tmp_path_factory, clip_config_dir, whisper_checkpoint):
    """A shop whose catalogue sits in the same folder as other files, and whose data folder is inside it."""
    from engine.settings import Settings

    folder = tmp_path_factory.mktemp("shop-folder")
    catalogue = write_catalogue(folder, count=6)
    (folder / "notes.txt").write_text("supplier prices: confidential")
    settings = Settings(_env_file=None, data_dir=folder / "data", catalog=catalogue, clip_model="shoplens-tiny",
                        clip_pretrained="none", clip_config_dir=clip_config_dir, whisper_model=str(whisper_checkpoint))  # fmt: skip
    with running_app(settings) as (url, shop):
        shop.search_page(Query(text="red"), shopper="someone")  # an event in the database
        yield url, folder, settings


def test_pictures_are_served_by_product_id_and_nothing_else(app_beside_secrets):
    url, folder, settings = app_beside_secrets
    assert httpx.get(f"{url}img/p000", timeout=30).status_code == 200
    for path in (folder / "notes.txt", folder / "products.jsonl", settings.data_dir / "events.sqlite3",
                 folder / "images" / "p000.png"):  # fmt: skip
        assert httpx.get(f"{url}gradio_api/file={path}", timeout=30).status_code in (403, 404), path
    for name in ("..%2Fnotes.txt", "..%2F..%2Fnotes.txt", "nope", "p000%2F..%2F..%2Fnotes.txt"):
        assert httpx.get(f"{url}img/{name}", timeout=30).status_code == 404, name


def test_the_engine_reads_uploads_only_from_declared_folders(make_settings, catalogue_path, tmp_path):
    shop = ShopLens(make_settings(catalog=catalogue_path))
    shop.start(speech=False)
    picture = catalogue_path.parent / "images" / "p000.png"
    with pytest.raises(InvalidInputError, match="did not come from an upload"):
        shop.search_page(Query(image=picture))
    shop.allow_uploads_from(catalogue_path.parent / "images")
    assert shop.search_page(Query(image=picture)).hits
    link = catalogue_path.parent / "images" / "link.png"
    link.symlink_to(tmp_path / "elsewhere.png")  # a link inside an upload folder cannot point outside it
    (tmp_path / "elsewhere.png").write_bytes(picture.read_bytes())
    with pytest.raises(InvalidInputError, match="did not come from an upload"):
        shop.search_page(Query(image=link))
