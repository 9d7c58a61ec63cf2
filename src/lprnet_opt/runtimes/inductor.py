"""torch.compile (inductor) of the eager model; it compiles on the first calls (warm-up)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import load_model
from .eager import torch_runner


def open_artifact(path: str, threads: int):
    """(runner, None). A deploy bundle's predict.py carries this function's and `torch_runner`'s
    source, and the package modules `load_model` needs."""
    return torch_runner(torch.compile(load_model(path), dynamic=False), threads), None


def load(path: str | Path, threads: int):
    return open_artifact(str(path), threads)[0]
