"""Every ShopLens knob, read once from ``SHOPLENS_*`` environment variables.

``Settings()`` reads the environment (and a ``.env`` file if present); the object is frozen, so the
engine can share it freely. Each field's description is the README's settings table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CATALOGUE = PROJECT_ROOT / "assets" / "catalogue" / "products.jsonl"

RANDOM_WEIGHTS = frozenset({"", "none", "random"})


class Settings(BaseSettings):
    """ShopLens configuration; environment variable = ``SHOPLENS_`` + field name in capitals."""

    model_config = SettingsConfigDict(
        env_prefix="SHOPLENS_", env_file=".env", extra="ignore", frozen=True
    )

    # --- data ---------------------------------------------------------------------------------
    data_dir: Path = Field(Path("data"), description="Where the embedded Chroma index and caches live.")
    catalog: Path = Field(
        BUNDLED_CATALOGUE, description="Catalogue (JSONL or CSV) that `python app.py` indexes and serves."
    )
    index_on_start: bool = Field(True, description="Bring the index up to date with the catalogue at start.")

    # --- models -------------------------------------------------------------------------------
    clip_model: str = Field("ViT-B-32", description="open_clip model name, or an `hf-hub:` id.")
    clip_pretrained: str = Field(
        "laion2b_s34b_b79k",
        description="open_clip pretrained tag, or a local checkpoint path; `none` = random weights (tests).",
    )
    clip_config_dir: Path | None = Field(
        None, description="Extra open_clip model configs (a JSON file or a folder of them) to register."
    )
    whisper_model: str = Field("base", description="Whisper model name (`tiny.en`, `base`, ...) or a `.pt` path.")
    whisper_language: str | None = Field(None, description="Force a spoken language (e.g. `en`, `zh`); empty = detect.")
    whisper_window: Literal["auto", "fit", "full"] = Field(
        "auto",
        description="Whisper's audio window: `fit` = the clip plus a margin (at least "
        "15 s: about half the encoder's work for a short query), `full` = the 30 s Whisper was trained on, `auto` = "
        "`fit` for models larger than tiny (no less accurate there), `full` for tiny ones (which lose words).",
    )
    whisper_logits: Literal["shortlist", "exact"] = Field(
        "shortlist",
        description="How Whisper's decoder scores its 52k-token vocabulary at each step: `shortlist` = "
        "estimated with INT8 weights, then the 64 best text tokens and every special token scored again "
        "exactly in fp32 (the same words on the spoken query sets, a cheaper step), `exact` = fp32 for all.",
    )
    model_cache_dir: Path | None = Field(None, description="Where downloaded weights are cached (library default if empty).")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="Torch device; `auto` picks CUDA when present.")
    batch_size: int = Field(32, ge=1, le=1024, description="Images or texts per model call while indexing.")
    random_seed: int = Field(0, description="Seed for randomly initialised weights, so restarts agree.")
    offline: Literal["auto", "never"] = Field(
        "auto",
        description="When a model cannot be had: `auto` starts anyway without that feature (words-only search "
        "without CLIP, no voice without Whisper), `never` stops with the reason.",
    )
    clip_runtime: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx-int8",
        description="What runs CLIP on a CPU: `torch` (fp32), `onnx` (ONNX Runtime, fp32) or `onnx-int8` (ONNX Runtime, INT8 weights).",
    )

    # --- vector store -------------------------------------------------------------------------
    chroma_url: str | None = Field(None, description="Chroma server URL (e.g. `http://127.0.0.1:8000`); empty = embedded.")
    collection: str = Field("shoplens_products", min_length=3, max_length=63, description="Chroma collection name.")
    hnsw_m: int = Field(
        32, ge=4, le=128,
        description="HNSW links per vector (Chroma's max_neighbors) when a collection is created; more = better recall, "
        "more memory. Changing it needs `python -m engine.index --rebuild`.",
    )  # fmt: skip
    hnsw_ef_construction: int = Field(
        200, ge=10, le=2000,
        description="HNSW candidates examined while building a collection; more = better graph, slower indexing. "
        "Changing it needs `--rebuild`.",
    )  # fmt: skip
    hnsw_ef_search: int | None = Field(
        None, ge=10, le=2000,
        description="HNSW candidates examined per query (at least the results asked for, 100 per search); more = better "
        "recall, slower queries. Empty: 100 for a collection built with M of 32 or more, 200 for a sparser one, "
        "either keeping recall@10 above 0.95 at 100k products (`bench/scale.py`). Applied when a collection is opened.",
    )  # fmt: skip

    # --- search -------------------------------------------------------------------------------
    top_k: int = Field(12, ge=1, le=100, description="Products returned per search.")
    max_query_chars: int = Field(1000, ge=10, description="Longer typed queries are cut to this many characters.")
    index_poll_seconds: float = Field(
        5.0, ge=0,
        description="How often a serving app checks (one metadata read) whether another process changed the index, "
        "and then re-reads the catalogue in the background; 0 = never.",
    )  # fmt: skip

    # --- uploads ------------------------------------------------------------------------------
    max_image_bytes: int = Field(15_000_000, ge=1, description="Largest accepted image upload, in bytes.")
    max_image_pixels: int = Field(40_000_000, ge=1, description="Largest accepted image area (decompression bomb guard).")
    max_audio_bytes: int = Field(25_000_000, ge=1, description="Largest accepted audio upload, in bytes.")
    max_audio_seconds: float = Field(30.0, gt=0, description="Speech kept from a clip, in seconds.")
    min_audio_seconds: float = Field(0.3, ge=0, description="Shorter clips are refused.")
    long_audio: Literal["trim", "refuse"] = Field("trim", description="What to do with clips over the limit.")

    # --- server -------------------------------------------------------------------------------
    host: str | None = Field(None, description="Address the web app binds to (Gradio's default if empty).")
    port: int | None = Field(None, description="Port of the web app (Gradio's default if empty).")
    log_level: str = Field("INFO", description="Python logging level.")

    admin_token: str | None = Field(
        None, repr=False,
        description="When set, the page has a \"Your catalogue\" section where whoever gives this token can upload and serve "
        "a catalogue.",
    )  # fmt: skip

    # --- shoppers, reviews and privacy --------------------------------------------------------
    secret_key: str | None = Field(
        None, repr=False,
        description="Fernet key; when set, query texts, voice transcripts and review texts are encrypted in SQLite.",
    )  # fmt: skip
    retention_days: int = Field(180, ge=0, description="Events older than this are deleted, at start and daily; 0 keeps them.")
    privacy_epsilon: float = Field(1.0, gt=0, le=10, description="Differential privacy ε of each list or count shown across shoppers.")
    privacy_min_count: int = Field(20, ge=0, description="Noisy cross-shopper counts below this are not shown.")
    privacy_max_products: int = Field(3, ge=1, le=50, description="Products one shopper counts towards in one cross-shopper list.")
    privacy_release_hours: float = Field(24.0, ge=0, description="Noisy lists are drawn once per this many hours, then reused.")
    reviews_in_product_model: bool = Field(True, description="Review stars, count, sentiment and aspects in the product vector G.")
    max_review_chars: int = Field(2000, ge=50, le=20000, description="Longest review text accepted.")

    @field_validator("clip_config_dir", "model_cache_dir", "whisper_language", "chroma_url", "host", "port", "secret_key", "admin_token",
                     "hnsw_ef_search", mode="before")  # fmt: skip
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def clip_random_weights(self) -> bool:
        return self.clip_pretrained.strip().lower() in RANDOM_WEIGHTS
