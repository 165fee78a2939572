"""The product catalogue: typed products loaded from CSV or JSONL next to an image folder.

A catalogue is one file; image paths in it are relative to the file's folder and may not leave it.
Bad rows are collected as :class:`RowProblem` (line number and reason) and never stop the good rows.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from engine.errors import CatalogueError

log = logging.getLogger(__name__)

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
TAG_SEPARATORS = ("|", ";")


class Product(BaseModel):
    """One sellable item. ``image`` is an absolute path inside the catalogue folder."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True, populate_by_name=True)

    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    category: str = Field(min_length=1, max_length=60)
    price: float = Field(ge=0, le=10_000_000)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    rating: float | None = Field(None, ge=0, le=5)
    brand: str = Field("", max_length=80)
    colour: str = Field("", max_length=40, validation_alias=AliasChoices("colour", "color"))
    tags: tuple[str, ...] = ()
    image: Path
    title_zh: str | None = Field(None, max_length=200)
    description_zh: str | None = Field(None, max_length=5000)

    @field_validator("category", "colour")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("tags", mode="before")
    @classmethod
    def _split_tags(cls, value: Any) -> Any:
        if isinstance(value, str):
            for sep in TAG_SEPARATORS:
                value = value.replace(sep, ",")
            value = [tag for tag in (t.strip() for t in value.split(",")) if tag]
        return value

    @field_validator("title_zh", "description_zh", "rating", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    def embedding_text(self) -> str:
        """The words CLIP reads for the product's text vector: the most telling first (77 tokens)."""
        parts = [self.title, self.colour, self.category, self.brand, ", ".join(self.tags), self.description]
        return ". ".join(part for part in parts if part)

    def content_hash(self, image_digest: str | None = None) -> str:
        """Changes whenever the row or the image bytes change; drives incremental indexing.

        Pass the image's :func:`file_digest` when it is already known, so the image is not read again.
        """
        digest = hashlib.sha256(self.model_dump_json(exclude={"image"}).encode())
        digest.update(self.image.name.encode())
        digest.update((image_digest or file_digest(self.image)).encode())
        return digest.hexdigest()[:32]


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (reads the whole file)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:32]


@dataclass(frozen=True)
class ImageStamp:
    """An image file's digest with the size and modification time it had when it was hashed.

    While size and mtime stay the same the file is taken as unchanged and not read again (the rule
    ``make`` and ``rsync`` use); any change of either is checked by hashing the bytes.
    """

    digest: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path, known: ImageStamp | None = None) -> ImageStamp:
        """The stamp of ``path`` now; reuses ``known``'s digest when size and mtime still match it."""
        stat = path.stat()
        if known is not None and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            return known
        return cls(file_digest(path), stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class RowProblem:
    """A catalogue row that was skipped (or a product whose image failed later)."""

    line: int
    product_id: str | None
    reason: str

    def __str__(self) -> str:
        who = f" ({self.product_id})" if self.product_id else ""
        return f"line {self.line}{who}: {self.reason}"


@dataclass
class Catalogue:
    """The good products of a catalogue file and the problems found in the rest."""

    path: Path
    products: list[Product] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.path.parent

    def by_id(self) -> dict[str, Product]:
        return {product.id: product for product in self.products}


def load_catalogue(path: str | Path) -> Catalogue:
    """Read and validate a ``.jsonl``/``.json`` or ``.csv`` catalogue."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise CatalogueError(f"Catalogue file not found: {path}")
    rows = _read_rows(path)
    catalogue = Catalogue(path=path)
    seen: set[str] = set()
    for line, row in rows:
        product_or_problem = _validate_row(line, row, catalogue.root)
        if isinstance(product_or_problem, RowProblem):
            catalogue.problems.append(product_or_problem)
        elif product_or_problem.id in seen:
            catalogue.problems.append(RowProblem(line, product_or_problem.id, "duplicate id; first one kept"))
        else:
            seen.add(product_or_problem.id)
            catalogue.products.append(product_or_problem)
    log.info("catalogue %s: %d products, %d rows skipped", path.name, len(catalogue.products), len(catalogue.problems))
    for problem in catalogue.problems:
        log.warning("catalogue %s %s", path.name, problem)
    return catalogue


def _read_rows(path: Path) -> list[tuple[int, dict[str, Any] | RowProblem]]:
    suffix = path.suffix.lower()
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            if suffix == ".csv":
                return list(_csv_rows(handle))
            if suffix in (".jsonl", ".json", ".ndjson"):
                return list(_jsonl_rows(handle))
    except UnicodeDecodeError as error:
        raise CatalogueError(f"Catalogue {path.name} is not UTF-8 text ({error.reason}).") from error
    raise CatalogueError(f"Catalogue must be .csv or .jsonl, not {path.suffix or 'a file without extension'}.")


def _csv_rows(handle) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(handle)
    if not reader.fieldnames or "id" not in reader.fieldnames:
        raise CatalogueError("CSV catalogue needs a header row with at least an `id` column.")
    for row in reader:
        extra = row.pop(None, None)
        if extra:
            yield reader.line_num, RowProblem(reader.line_num, row.get("id"), "more cells than header columns")
            continue
        yield reader.line_num, {key: value for key, value in row.items() if value is not None}


def _jsonl_rows(handle) -> Iterator[tuple[int, dict[str, Any] | RowProblem]]:
    for line_number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            yield line_number, RowProblem(line_number, None, f"not valid JSON ({error.msg})")
            continue
        if not isinstance(row, dict):
            yield line_number, RowProblem(line_number, None, "not a JSON object")
            continue
        yield line_number, row


def _validate_row(line: int, row: dict[str, Any] | RowProblem, root: Path) -> Product | RowProblem:
    if isinstance(row, RowProblem):
        return row
    product_id = str(row.get("id") or "").strip() or None
    image_or_problem = _resolve_image(row.get("image"), root)
    if isinstance(image_or_problem, str):
        return RowProblem(line, product_id, image_or_problem)
    try:
        return Product.model_validate({**row, "image": image_or_problem})
    except ValidationError as error:
        return RowProblem(line, product_id, _explain(error))


def _resolve_image(raw: Any, root: Path) -> Path | str:
    """The image's absolute path, or the reason it cannot be used."""
    if not isinstance(raw, str) or not raw.strip():
        return "no image path"
    relative = Path(raw.strip())
    if relative.is_absolute():
        return f"image path must be relative to the catalogue folder: {raw}"
    resolved = (root / relative).resolve()
    if not resolved.is_relative_to(root):
        return f"image path leaves the catalogue folder: {raw}"
    if not resolved.is_file():
        return f"image not found: {raw}"
    return resolved


def _explain(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in issue['loc']) or 'row'}: {issue['msg']}" for issue in error.errors()
    )
