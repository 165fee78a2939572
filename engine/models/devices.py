"""Where the models and the search's numpy work run: the device, ONNX Runtime's sessions, and BLAS's threads."""

from __future__ import annotations

import threading
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

_blas_limited = False
_blas_lock = threading.Lock()


def resolve_device(requested: str) -> str:
    """``auto`` becomes ``cuda`` when a GPU is present, else ``cpu``."""
    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def onnx_session(model: Path | bytes, threads: int):
    """An ONNX Runtime session on the CPU for a model file (or its bytes), on ``threads`` threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle threads sleep instead of spinning: search, Chroma and the indexer's image threads share these cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(model if isinstance(model, bytes) else str(model), options,
                                        providers=["CPUExecutionProvider"])  # fmt: skip


def one_blas_thread() -> None:
    """Run numpy's BLAS (OpenBLAS) on the calling thread only, for the rest of the process (once: the
    app calls it as it starts, before its worker threads compute anything).

    A search's numpy work is small matrix-vector products (a few thousand rows at most), made from
    several worker threads at once. OpenBLAS splits each over its own threads, which then spin
    waiting for the next call and take the cores from Chroma and the models. At 100k products the
    p95 of text and photo searches fell by 20-30% and of filtered ones by 15-65% in three runs
    (README, "Scaling out"; ``python bench/scale.py --blas``), with no change at 332. torch's and
    ONNX Runtime's own thread pools are untouched.
    """
    global _blas_limited
    with _blas_lock:
        if not _blas_limited:
            threadpool_limits(limits=1, user_api="blas")  # not a context: the limit stays
            _blas_limited = True
