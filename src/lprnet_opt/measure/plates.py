"""Reading plates through a runner, and the judge reading (results/judge/<variant>.json).

Imports no torch, so a judge job of an ONNX Runtime, OpenVINO or TVM variant does not pay for it.
"""

from __future__ import annotations

import hashlib
import logging
import time

import numpy as np

from ..chars import greedy_decode
from ..runtimes import Runner, run_batched

log = logging.getLogger(__name__)

# The fp32 references run in eager PyTorch, where the model is batch-invariant
# (tests/test_model.py), so they are batched: same answers, 5-10x less time. 16, not more:
# at 64 a layer's output passes glibc's mmap threshold and is mapped and unmapped per call
# (1000 plates: 5.1 s at 64, 2.7 s at 16; AMD EPYC, 2 threads).
REFERENCE_BATCH = 16


def reading_batch(runtime: str) -> int:
    """Batch size a variant's plates are read at: 1, the deployment setting, except in eager
    PyTorch, which is batch-invariant, where its references are read batched too."""
    return REFERENCE_BATCH if runtime == "eager" else 1


def images_digest(images: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(images, np.float32).tobytes()).hexdigest()


def predict_plates(runner: Runner, images: np.ndarray, label: str, batch_size: int = 1) -> tuple[np.ndarray, list[str]]:
    """Logits and plates for every image; batch 1, the deployment setting, for every variant."""
    start = time.perf_counter()
    logits = run_batched(runner, images, batch_size)
    log.info("%s: predicted %d images in %.1fs", label, len(images), time.perf_counter() - start)
    return logits, greedy_decode(logits)


def judge_reading(variant: str, runner: Runner, images: np.ndarray, labels: list[str], judged_on: str,
                  fit: bool, exact: bool = False, batch_size: int = 1) -> dict:
    """results/judge/<variant>.json: which judge plates (never evaluation plates) the variant reads
    exactly, through its own runtime at batch 1. The goal's choice pairs these with the
    baseline's (report/goal.py), so the shipped artifact is chosen without evaluation plates.
    `exact`: an exact form of the baseline (kinds.is_exact), which the goal charges no margin."""
    _, plates = predict_plates(runner, images, f"{variant} on the judge plates", batch_size)
    correct = [p == t for p, t in zip(plates, labels, strict=True)]
    return {"variant": variant, "judged_on": judged_on, "images": len(labels), "images_sha256": images_digest(images),
            "correct": "".join("1" if c else "0" for c in correct), "fit": fit, "exact": exact}
