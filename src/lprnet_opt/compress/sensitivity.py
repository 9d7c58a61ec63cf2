"""Which layers an INT8 build keeps in fp32: a measured leave-one-out scan, shared by every quantizer.

Each quantizer passes a function that builds its INT8 model with a given set of layers left in
fp32 and returns the logits on the scan images. The scan compares those with the fp32 logits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from ..chars import greedy_decode
from ..metrics import agreement

log = logging.getLogger(__name__)


def logit_error(logits: np.ndarray, reference: np.ndarray) -> dict:
    """Mean squared logit error, plate agreement, and frame agreement (the share of the (plate,
    time step) pairs whose most likely class, what greedy decoding reads, is the reference's)
    against the fp32 reference logits (N, classes, steps)."""
    return {"logit_mse": float(np.mean((logits - reference) ** 2)),
            "agreement": agreement(greedy_decode(logits), greedy_decode(reference)),
            "frame_agreement": float(np.mean(logits.argmax(1) == reference.argmax(1)))}


def leave_one_out(quantized_logits: Callable[[list[str]], np.ndarray], candidates: Sequence[str],
                  reference: np.ndarray) -> list[dict]:
    """The error with everything INT8 (row "none"), then with each candidate alone kept fp32.

    A layer's `gain` is how much of the full INT8 error disappears when it stays fp32.
    """
    rows = []
    for i, layer in enumerate([None, *candidates]):
        rows.append({"layer": layer or "none", **logit_error(quantized_logits([layer] if layer else []), reference)})
        log.info("sensitivity %d/%d fp32=%s: logit mse %.5f agreement %.4f", i, len(candidates),
                 rows[-1]["layer"], rows[-1]["logit_mse"], rows[-1]["agreement"])
    for row in rows[1:]:
        row["gain"] = rows[0]["logit_mse"] - row["logit_mse"]
    return rows


def choose_fp32_layers(scan: list[dict], max_fp32_layers: int) -> list[str]:
    """The layers whose return to fp32 removes the most logit error, best first."""
    ranked = sorted(scan[1:], key=lambda r: r["gain"], reverse=True)
    return [r["layer"] for r in ranked[:max_fp32_layers] if r["gain"] > 0]
