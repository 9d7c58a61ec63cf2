"""One calling convention for every runtime: float32 (N, 3, 24, 94) images in, (N, 68, 18) logits out.

Each runtime is a module here with `load(path, threads) -> Runner`; `kinds.KINDS` names the
module for each kind. A loader takes only the artifact file, so the measured object is
exactly what ships, and imports only its own runtime: the timing stage's processes
(`python -m lprnet_opt.measure.timing`) then hold that runtime alone, and their peak RSS is its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

Runner = Callable[[np.ndarray], np.ndarray]


def load_runner(runtime: str, path: str | Path, threads: int) -> Runner:
    """The artifact at `path` loaded by runtime module `runtime`, using `threads` threads."""
    return importlib.import_module(f"{__name__}.{runtime}").load(path, threads)


def run_batched(runner: Runner, images: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([runner(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])
