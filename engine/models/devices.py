"""Where the models and the search's numpy work run: the device, and BLAS's threads."""

from __future__ import annotations

import torch
from threadpoolctl import threadpool_limits


def resolve_device(requested: str) -> str:
    """``auto`` becomes ``cuda`` when a GPU is present, else ``cpu``."""
    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def one_blas_thread() -> None:
    """Run numpy's BLAS (OpenBLAS) on the calling thread only, for the rest of the process.

    A search's numpy work is small matrix-vector products (a few thousand rows at most), made from
    several worker threads at once. OpenBLAS splits each over its own threads, which then spin
    waiting for the next call and take the cores from Chroma and the models. Measured at 100k
    products on 2 cores (``bench/scale.py --blas``): text p95 16.9 -> 13.9 ms, filtered 30.5 -> 23.0,
    photo 15.6 -> 10.0, no change at 332. torch's and ONNX Runtime's own thread pools are untouched.
    """
    threadpool_limits(limits=1, user_api="blas")  # not a context: the limit stays until set again
