"""The catalogue version, kept in the text collection's metadata, and the numbering of every write.

The version works as a sequence lock (:class:`~engine.catalogue.records.CatalogueVersion`): a writer
makes it odd before its first change and even again when it is done. Every record a write session
writes also carries the session's odd number (``shoplens_at``), so a reader that holds the catalogue
at one version can ask which records were written since (:func:`written_since`) and read only those.
That holds only from the version on which every write was numbered, and the metadata says which:
``shoplens_numbered_from``, and ``shoplens_numbered_to``, the number the last numbering writer set.
A writer that does not number its records (an older ShopLens), two sessions overlapping, or an index
restored from an older copy each show there, and readers then read everything instead.
"""

from __future__ import annotations

from typing import Any

from engine.catalogue.records import CatalogueVersion

VERSION_KEY = "shoplens_version"
WRITTEN_AT = "shoplens_at"  # a record's metadata: the (odd) version number of the session that wrote it
NUMBERED_TO = "shoplens_numbered_to"
NUMBERED_FROM = "shoplens_numbered_from"
FIRST = {VERSION_KEY: 0, NUMBERED_TO: 0, NUMBERED_FROM: 1}  # a new index's


def version_of(collection_id: str, metadata: dict[str, Any] | None) -> CatalogueVersion:
    return CatalogueVersion(collection_id, int((metadata or {}).get(VERSION_KEY, 0)))


def moved_on(metadata: dict[str, Any], *, settled: bool, own: int | None = None) -> dict[str, Any]:
    """``metadata`` with the version moved on to the next odd (``settled`` False) or even number. ``own`` is the
    number the settling session's records carry, when it changed something.

    The numbered chain starts again with this session (or, when settling, the next) when the version is
    not the one a numbering writer last set, or when another session moved it while this one wrote
    (possible only with a Chroma server written from two data folders): records numbered before that
    settled version were written after it.
    """
    found = int(metadata.get(VERSION_KEY, 0))
    number = found + (1 if (found % 2 == 1) == settled else 2)
    chained = metadata.get(NUMBERED_TO) == found and (own is None or own == found)
    numbered_from = metadata.get(NUMBERED_FROM) if chained else None
    if numbered_from is None:
        numbered_from = number if number % 2 else number + 1
    return {**metadata, VERSION_KEY: number, NUMBERED_TO: number, NUMBERED_FROM: numbered_from}


def numbered_since(version: CatalogueVersion, now: CatalogueVersion, metadata: dict[str, Any]) -> bool:
    """Whether every record written since settled ``version`` up to settled ``now`` (read with ``metadata``)
    carries its session's number, so :func:`written_since` finds them all."""
    numbered_from = metadata.get(NUMBERED_FROM)
    return (now.collection == version.collection and version.settled and now.settled
            and version.number <= now.number  # lower: the index was restored from an older copy
            and metadata.get(NUMBERED_TO) == now.number and isinstance(numbered_from, int)
            and numbered_from <= version.number + 1)  # fmt: skip


def written_at(number: int) -> dict[str, int]:
    """The metadata that numbers a record with the write session writing it."""
    return {WRITTEN_AT: number}


def written_since(version: CatalogueVersion) -> dict[str, Any]:
    """The Chroma ``where`` that finds the records written since ``version``."""
    return {WRITTEN_AT: {"$gt": version.number}}
