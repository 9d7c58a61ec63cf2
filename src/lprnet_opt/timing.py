"""The one timing protocol of the project: batch-1 calls on a preloaded image, in blocks.

Used by `measure` (each variant against the eager baseline) and by `bench`.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from .runtimes import Runner

log = logging.getLogger(__name__)


def time_interleaved(runners: dict[str, Runner], sample: np.ndarray, warmup: int, runs: int,
                     block: int = 10, settle_s: float = 0.02) -> dict[str, np.ndarray]:
    """Per-call milliseconds for each runner: runners take turns in blocks of `block` calls.

    Call-by-call alternation made each runtime pay for the other's thread pool still spinning
    after its last call (TVM's and OpenMP's workers both spin-wait; measured: TVM speedups
    moved 17-18% between two runs). Blocks, a short settle pause between them, and one
    untimed call at the start of each block keep the pools from overlapping, while the order
    reverses every round so slow drift of the machine still hits every runner alike.
    """
    names = list(runners)
    for name in names:
        for _ in range(warmup):
            runners[name](sample)
    times = {name: [] for name in names}
    rounds = max(1, -(-runs // block))
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            time.sleep(settle_s)
            runners[name](sample)
            for _ in range(block):
                start = time.perf_counter()
                runners[name](sample)
                times[name].append((time.perf_counter() - start) * 1e3)
        if rounds >= 4 and (r + 1) % (rounds // 4) == 0:
            log.info("timing: %d/%d rounds", r + 1, rounds)
    return {name: np.array(t[:runs]) for name, t in times.items()}


def throughput(runner: Runner, images: np.ndarray, batch: int, runs: int) -> float:
    sample = np.ascontiguousarray(np.resize(images, (batch, *images.shape[1:])))
    runner(sample)
    start = time.perf_counter()
    for _ in range(runs):
        runner(sample)
    return batch * runs / (time.perf_counter() - start)


def spread(values: np.ndarray) -> dict[str, float]:
    return {k: round(float(np.percentile(values, q)), 4) for k, q in (("median", 50), ("p10", 10), ("p90", 90))}
