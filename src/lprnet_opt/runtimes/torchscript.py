"""A TorchScript file, as a deployment script would run it (no project code needed)."""

from __future__ import annotations

from pathlib import Path

import torch

from .eager import torch_runner


def load(path: str | Path, threads: int):
    return torch_runner(torch.jit.load(str(path), map_location="cpu"), threads)
