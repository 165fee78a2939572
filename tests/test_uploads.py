"""A shop owner's catalogue from the browser: good uploads are checked row by row, hostile zips refused."""

import io
import json
import stat
import zipfile

import pytest
from PIL import Image

from engine.catalogue.uploads import ArchiveLimits, receive, unpack_images
from engine.errors import InvalidInputError


def picture(colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 48), colour).save(buffer, "PNG")
    return buffer.getvalue()


def make_zip(path, members: dict[str, bytes], *, links: dict[str, str] | None = None, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            bundle.writestr(info, target)
    return path


def test_a_good_upload_is_unpacked_and_every_row_checked(tmp_path):
    images = make_zip(tmp_path / "images.zip", {"images/a.png": picture("red"), "images/b.png": picture("blue"),
                                                 "notes.txt": b"not an image: skipped"})  # fmt: skip
    rows = [
        {"id": "a", "title": "Red mug", "category": "kitchen", "price": 9.5, "image": "images/a.png"},
        {"id": "b", "title": "Blue mug", "category": "kitchen", "price": 11, "image": "images/b.png"},
        {"id": "c", "title": "No picture", "category": "kitchen", "price": 3, "image": "images/missing.png"},
        {"id": "d", "title": "Negative", "category": "kitchen", "price": -1, "image": "images/a.png"},
    ]
    catalogue = tmp_path / "mine.jsonl"
    catalogue.write_text("\n".join(json.dumps(row) for row in rows) + "\n{not json\n", encoding="utf-8")
    upload = receive(catalogue, images, tmp_path / "uploads")
    assert [p.id for p in upload.catalogue.products] == ["a", "b"] and upload.images == 2
    report = upload.report()
    assert report[0] == "2 products ready, 2 images unpacked."
    assert any("line 3 (c)" in line and "image not found" in line for line in report)
    assert any("line 4 (d)" in line and "price" in line for line in report)
    assert any("line 5" in line and "not valid JSON" in line for line in report)
    assert not (upload.folder / "notes.txt").exists()


@pytest.mark.parametrize("members, links, message", [
    ({"../escape.png": b"x"}, None, "path outside its folder"),
    ({"images/../../escape.png": b"x"}, None, "path outside its folder"),
    ({"/etc/cron.d/evil.png": b"x"}, None, "path outside its folder"),
    ({"images/a.png": b"x"}, {"images/link.png": "/etc/passwd"}, "link"),
])  # fmt: skip
def test_hostile_paths_and_links_are_refused_before_anything_is_written(tmp_path, members, links, message):
    archive = make_zip(tmp_path / "hostile.zip", members, links=links)
    with pytest.raises(InvalidInputError, match=message):
        unpack_images(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape.png").exists()


def test_a_zip_bomb_is_refused_by_its_ratio(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", {"images/huge.png": b"\0" * 15_000_000})  # deflates ~1000:1
    with pytest.raises(InvalidInputError, match="zip bomb"):
        unpack_images(archive, tmp_path / "out")


def test_sizes_and_counts_over_the_limits_are_refused(tmp_path):
    archive = make_zip(tmp_path / "big.zip", {f"images/{i}.png": picture() for i in range(5)}, compression=zipfile.ZIP_STORED)
    with pytest.raises(InvalidInputError, match="holds 5 files; the limit is 4"):
        unpack_images(archive, tmp_path / "a", ArchiveLimits(max_files=4))
    with pytest.raises(InvalidInputError, match="unpacks to"):
        unpack_images(archive, tmp_path / "b", ArchiveLimits(max_total_bytes=len(picture()) * 2))
    with pytest.raises(InvalidInputError, match="too large"):
        unpack_images(archive, tmp_path / "c", ArchiveLimits(max_file_bytes=100))


def test_a_zip_that_lies_about_its_sizes_cannot_write_more_than_it_declared(tmp_path):
    archive = make_zip(tmp_path / "liar.zip", {"images/a.png": picture() * 20}, compression=zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    real = len(picture() * 20).to_bytes(4, "little")
    small = (100).to_bytes(4, "little")
    data = data.replace(real, small)  # declared uncompressed size (local and central headers) now 100 bytes
    archive.write_bytes(bytes(data))
    with pytest.raises(InvalidInputError):
        unpack_images(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_not_a_zip_or_not_a_catalogue(tmp_path):
    with pytest.raises(InvalidInputError, match="not a zip archive"):
        unpack_images(tmp_path.joinpath("x.zip").write_bytes(b"plain text") and tmp_path / "x.zip", tmp_path / "out")
    spreadsheet = tmp_path / "products.xlsx"
    spreadsheet.write_bytes(b"PK")
    with pytest.raises(InvalidInputError, match=".csv or .jsonl"):
        receive(spreadsheet, None, tmp_path / "uploads")
