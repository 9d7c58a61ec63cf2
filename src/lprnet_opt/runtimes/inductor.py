"""torch.compile (inductor) of the eager model; it compiles on the first calls (warm-up)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import load_model
from .eager import torch_runner


def load(path: str | Path, threads: int):
    return torch_runner(torch.compile(load_model(path), dynamic=False), threads)
