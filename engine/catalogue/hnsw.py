"""Chroma's HNSW configuration for the product collections: what a new one gets, what an existing one is tuned to.

M (``max_neighbors``) and ef_construction shape the graph and are fixed when a collection is created
(``SHOPLENS_HNSW_M``, ``SHOPLENS_HNSW_EF_CONSTRUCTION``; ``python -m engine.index --rebuild`` applies new
ones). ef_search and Chroma's ``sync_threshold`` can change on an existing collection, and are applied
whenever the store opens it.
"""

from __future__ import annotations

from typing import Any

from engine.settings import Settings

# ef_search by default (SHOPLENS_HNSW_EF_SEARCH empty): enough for recall@10 of at least 0.95 at 100k
# products (bench/scale.py, clustered 512-d vectors). A graph of M 16 (ef_construction 100) gave 0.964 at
# ef 200 and 0.908 at ef 100; one of M 32 (ef_construction 200) gives 0.979 at ef 100, and Chroma answers it
# as fast (100 neighbours: p50 4.1 against 4.0 ms, the two indexes queried in turn: its per-call work dominates).
DENSE_M = 32
DENSE_EF_SEARCH = 100
SPARSE_EF_SEARCH = 200
# Chroma writes a collection's HNSW graph to disk once this many records were added since it last did; until
# then they wait in its log, which every process that opens the index replays into its graph, with Python's
# lock held (about 5 ms a record at 100k products). Under Chroma's default, 1000, the log of a catalogue
# re-indexed a few products at a time grew past 2,000 records, and each new version froze the app that
# picked it up for about 15 s at 100k products (bench/scale.py: "A new index version searchable").
SYNC_THRESHOLD = 100


def ef_search_for(settings: Settings, m: int | None) -> int:
    """``SHOPLENS_HNSW_EF_SEARCH``, or by default what keeps recall@10 above 0.95 at 100k products on a graph
    of ``m`` links per vector: a denser graph reaches it examining fewer candidates. Measured with
    ef_construction 200 for M 32 and 100 for M 16 (the defaults then); a graph built with less care may
    need ``SHOPLENS_HNSW_EF_SEARCH`` set higher."""
    if settings.hnsw_ef_search is not None:
        return settings.hnsw_ef_search
    return DENSE_EF_SEARCH if (m or 0) >= DENSE_M else SPARSE_EF_SEARCH


def for_new_collection(settings: Settings) -> dict[str, Any]:
    """The configuration a new collection is created with (chromadb ``CreateHNSWConfiguration`` keys)."""
    return {"space": "cosine", "max_neighbors": settings.hnsw_m, "ef_construction": settings.hnsw_ef_construction,
            "ef_search": ef_search_for(settings, settings.hnsw_m), "sync_threshold": SYNC_THRESHOLD}  # fmt: skip


def retuned(settings: Settings, configured: dict[str, Any]) -> dict[str, Any]:
    """What to change on an existing collection configured so (empty: nothing): ef_search for its own graph,
    and ``SYNC_THRESHOLD``. An empty ``configured`` (Chroma states none) is left alone."""
    if not configured:
        return {}
    wanted = {"ef_search": ef_search_for(settings, configured.get("max_neighbors")), "sync_threshold": SYNC_THRESHOLD}
    return {key: value for key, value in wanted.items() if configured.get(key) != value}


def configuration_of(collection) -> dict[str, Any]:
    """A collection's HNSW configuration as Chroma holds it; empty when it states none."""
    return dict((getattr(collection, "configuration_json", None) or {}).get("hnsw") or {})
