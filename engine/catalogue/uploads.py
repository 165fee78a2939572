"""A shop owner's own catalogue, uploaded from the browser: a CSV/JSONL file and a zip of its images.

The zip is hostile until proven otherwise. :func:`unpack_images` refuses, with a message a shop
owner can act on: paths that leave the folder ("zip slip") or are absolute, links, archives with too
many files, files or totals that are too large, and compression ratios only a zip bomb has. It
decides from the archive's directory before writing anything, and then writes each file through a
size-limited copy, so a directory that lies about sizes cannot fill the disk either.
"""

from __future__ import annotations

import shutil
import stat
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from engine.catalogue.products import Catalogue, load_catalogue
from engine.errors import InvalidInputError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
CATALOGUE_SUFFIXES = frozenset({".csv", ".jsonl", ".json", ".ndjson"})
CHUNK = 1 << 16


@dataclass(frozen=True)
class ArchiveLimits:
    max_files: int = 20_000
    max_file_bytes: int = 20_000_000  # one image, uncompressed
    max_total_bytes: int = 2_000_000_000  # everything, uncompressed
    max_ratio: float = 100.0  # uncompressed / compressed, per file: images barely compress


def unpack_images(archive: Path, destination: Path, limits: ArchiveLimits = ArchiveLimits()) -> int:
    """Extract the images of ``archive`` into ``destination`` (which must not exist); returns how many.

    Nothing is left behind when the archive is refused half-way.
    """
    created = False
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = [info for info in bundle.infolist() if not info.is_dir()]
            _check_members(members, limits)
            destination.mkdir(parents=True)
            created = True
            for info in members:
                if PurePosixPath(info.filename).suffix.lower() in IMAGE_SUFFIXES:
                    _extract(bundle, info, destination, limits)
    except BaseException as error:
        if created:
            shutil.rmtree(destination, ignore_errors=True)
        if isinstance(error, zipfile.BadZipFile):
            raise InvalidInputError("The images file is not a zip archive we can read, or it is damaged.") from error
        raise
    return sum(1 for path in destination.rglob("*") if path.is_file())


def _check_members(members: list[zipfile.ZipInfo], limits: ArchiveLimits) -> None:
    if len(members) > limits.max_files:
        raise InvalidInputError(f"The zip holds {len(members)} files; the limit is {limits.max_files}.")
    total = 0
    for info in members:
        name = PurePosixPath(info.filename)
        if name.is_absolute() or ".." in name.parts or "\\" in info.filename or ":" in name.parts[0]:
            raise InvalidInputError(f"The zip contains a path outside its folder ({info.filename}); it was refused.")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise InvalidInputError(f"The zip contains a link ({info.filename}); links are not accepted.")
        if info.file_size > limits.max_file_bytes:
            raise InvalidInputError(f"{info.filename} is too large ({info.file_size / 1e6:.0f} MB unpacked; "
                                    f"the limit is {limits.max_file_bytes / 1e6:.0f} MB).")  # fmt: skip
        if info.file_size > 1_000_000 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise InvalidInputError(f"{info.filename} unpacks to {info.file_size / max(info.compress_size, 1):.0f} "
                                    "times its packed size: the zip looks like a zip bomb and was refused.")  # fmt: skip
        total += info.file_size
    if total > limits.max_total_bytes:
        raise InvalidInputError(f"The zip unpacks to {total / 1e9:.1f} GB; the limit is {limits.max_total_bytes / 1e9:.1f} GB.")


def _extract(bundle: zipfile.ZipFile, info: zipfile.ZipInfo, destination: Path, limits: ArchiveLimits) -> None:
    """Copy one member, never writing more than it declared (a lying directory cannot fill the disk)."""
    target = destination.joinpath(*PurePosixPath(info.filename).parts)
    if not target.resolve().is_relative_to(destination.resolve()):
        raise InvalidInputError(f"The zip contains a path outside its folder ({info.filename}); it was refused.")
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with bundle.open(info) as source, target.open("wb") as sink:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > min(info.file_size, limits.max_file_bytes):
                raise InvalidInputError(f"{info.filename} is larger than the zip says; the zip was refused.")
            sink.write(chunk)


@dataclass
class Upload:
    """A checked upload, ready to index: where it was unpacked and what the check found."""

    folder: Path
    catalogue: Catalogue
    images: int

    def report(self) -> list[str]:
        """The validation report: one line per good count and per refused row (by line and reason)."""
        lines = [f"{len(self.catalogue.products)} products ready, {self.images} images unpacked."]
        lines += [f"Not indexed: {problem}" for problem in self.catalogue.problems]
        return lines


def receive(catalogue_file: Path, images_zip: Path | None, uploads_dir: Path, limits: ArchiveLimits = ArchiveLimits()) -> Upload:
    """Unpack an upload into a new folder under ``uploads_dir`` and check every row."""
    suffix = catalogue_file.suffix.lower()
    if suffix not in CATALOGUE_SUFFIXES:
        raise InvalidInputError("The catalogue must be a .csv or .jsonl file.")
    folder = uploads_dir / time.strftime("%Y%m%d-%H%M%S")
    while folder.exists():
        folder = folder.with_name(folder.name + "-1")
    images = unpack_images(images_zip, folder, limits) if images_zip is not None else 0
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"products{suffix}"
    shutil.copyfile(catalogue_file, target)
    return Upload(folder, load_catalogue(target), images)
