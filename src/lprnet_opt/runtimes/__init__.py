"""One calling convention for every runtime: float32 (N, 3, 24, 94) images in, (N, 68, 18) logits out.

Each runtime is a module here with `load(path, threads) -> Runner`; `kinds.KINDS` names the
module for each kind. Runtimes that run a float model in another precision (`kinds.Kind.precisions`)
take `load(path, threads, precision=...)`, and their runners carry a `precision` attribute: what
the compiled model runs in, read back from the runtime (`precision_of`). A loader takes only the artifact file, so the measured object is
exactly what ships, and imports only its own runtime: the timing stage's processes
(`python -m lprnet_opt.measure.timing`) then hold that runtime alone, and their peak RSS is its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

Runner = Callable[[np.ndarray], np.ndarray]


def load_runner(runtime: str, path: str | Path, threads: int, precision: str = "f32") -> Runner:
    """The artifact at `path` loaded by runtime module `runtime`, using `threads` threads, in
    `precision` (only runtimes that take one are given it)."""
    options = {} if precision == "f32" else {"precision": precision}
    return importlib.import_module(f"{__name__}.{runtime}").load(path, threads, **options)


def runtime_spec(runtime: str, precision: str = "f32") -> str:
    """One string for a runtime and its precision, "openvino_runtime@bf16" (plain for f32): what a
    timing process and `bench` are told to load."""
    return runtime if precision == "f32" else f"{runtime}@{precision}"


def load_spec(spec: str, path: str | Path, threads: int) -> Runner:
    """`load_runner` for a `runtime_spec` string."""
    runtime, _, precision = spec.partition("@")
    return load_runner(runtime, path, threads, precision or "f32")


def precision_of(runner: Runner) -> dict:
    """What a runner's runtime read back of the precision it runs in; {} for runtimes with one fixed."""
    return dict(getattr(runner, "precision", None) or {})


def run_batched(runner: Runner, images: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([runner(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])
