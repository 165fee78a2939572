"""Small torch helpers shared by the model stages."""

from __future__ import annotations

import torch


def resolve_device(requested: str) -> str:
    """``auto`` becomes ``cuda`` when a GPU is present, else ``cpu``."""
    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"
