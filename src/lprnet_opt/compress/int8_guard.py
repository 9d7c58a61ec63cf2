"""The guard every INT8 build passes through: the artifact as shipped, run by its own runtime,
must agree with its fp32 source on the calibration split, or the build falls back.

Why a guard on the shipped path: on an AVX2-only AMD EPYC the PT2E build's sensitivity scan
(the reference graph, fp32 arithmetic) said 0.97-0.98 agreement while the inductor-lowered
artifact agreed on 0.65 of the plates, and it shipped. Only the runtime's own kernels show
saturation.

Fallbacks, in order, stopping at the first attempt that reaches the bound:
1. the numerics chosen for this CPU class, with the layers the sensitivity scan chose;
2. reduce range (7-bit weights), when attempt 1 did not use it;
3. one more fp32 layer at a time, in the scan's order of measured harm, with whichever of the
   numerics above agreed better, up to `max_extra_fp32_layers`.
When none reaches the bound, the best attempt is kept and recorded as unfit, with the reason:
the run goes on, and the report shows the variant as unfit and never recommends it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..isa import has_vnni

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GuardSettings:
    # Least share of calibration plates read as the fp32 source reads them. 0.9 (measured on the
    # real checkpoint, 186 calibration images, AMD EPYC): the saturated full-range PT2E build on
    # AVX2 kernels agreed on 0.65-0.67, its reduce-range rebuild on 0.96; the VNNI builds on
    # 0.96-0.97 (PT2E, NNCF) and 0.91-0.94 (ONNX Runtime, whose evaluation accuracy is still
    # within noise of the baseline: 9 plates gained, 11 lost, p = 0.82). A plate is 0.54 pt of
    # agreement there, so a bound at 0.95 would reject sound ONNX Runtime builds by one or two
    # plates; real accuracy differences are for the paired test on the evaluation split.
    min_agreement: float
    # How many layers beyond the scan's choice the last fallback may keep fp32.
    max_extra_fp32_layers: int


# What one attempt built: a file, or a model in memory.
Built = TypeVar("Built")


def guarded_build(attempt: Callable[[bool, list[str]], tuple[Built, float]], reduce_range: bool,
                  fp32_layers: list[str], ranked_layers: Callable[[], list[str]],
                  settings: GuardSettings) -> tuple[Built, dict]:
    """Run the fallbacks until one reaches `settings.min_agreement`. `attempt(reduce_range,
    fp32_layers)` builds one artifact and returns it with its agreement through its runtime.
    Returns the chosen artifact and the guard's record (every attempt, the verdict, the reason when unfit).

    `ranked_layers` is called only when the fp32 fallback is reached: the layers in order of
    measured harm, most harmful first (a scan the build may not otherwise need).
    """
    attempts: list[dict] = []
    paths: list = []

    def run(rr: bool, layers: list[str], step: str) -> bool:
        path, agreement = attempt(rr, layers)
        paths.append(path)
        attempts.append({"step": step, "reduce_range": rr, "fp32_layers": list(layers), "agreement": agreement,
                         "passed": agreement >= settings.min_agreement})
        log.info("INT8 guard, %s (reduce_range=%s, %d fp32 layers): agreement %.4f, bound %.3f: %s", step, rr,
                 len(layers), agreement, settings.min_agreement, "pass" if attempts[-1]["passed"] else "fail")
        return attempts[-1]["passed"]

    passed = run(reduce_range, fp32_layers, "chosen numerics")
    if not passed and not reduce_range:
        passed = run(True, fp32_layers, "reduce range")
    if not passed and settings.max_extra_fp32_layers > 0:
        best_rr = max(attempts, key=lambda a: a["agreement"])["reduce_range"]
        extra = [layer for layer in ranked_layers() if layer not in fp32_layers]
        for k in range(1, min(settings.max_extra_fp32_layers, len(extra)) + 1):
            if run(best_rr, [*fp32_layers, *extra[:k]], f"{k} more fp32 layer(s)"):
                passed = True
                break
    chosen = len(attempts) - 1 if passed else max(range(len(attempts)), key=lambda i: attempts[i]["agreement"])
    best = attempts[chosen]
    reason = None if passed else (
        f"calibration agreement {best['agreement']:.4f} below the bound {settings.min_agreement:g} after "
        f"{len(attempts)} attempts ({', '.join(a['step'] for a in attempts)})")
    if reason:
        log.warning("INT8 build unfit: %s", reason)
    record = {"min_agreement": settings.min_agreement, "attempts": attempts, "chosen_attempt": chosen,
              "passed": passed, "unfit_reason": reason}
    return paths[chosen], record


def numerics_for(isa: str) -> tuple[bool, str]:
    """reduce_range for a CPU class, and why, for the build record."""
    if has_vnni(isa):
        return False, f"full-range int8 weights: {isa} has VNNI, whose u8 x s8 products sum in 32 bits"
    return True, f"7-bit weights (reduce_range): {isa} has no VNNI, so u8 x s8 pairs sum in 16 bits and saturate"


def guard_fields(record: dict, isa: str, choice: str) -> dict:
    """The build-record fields every INT8 build shares: the chosen attempt's agreement and
    numerics, the guard's record, and the verdict."""
    final = record["attempts"][record["chosen_attempt"]]
    return {"calibration_agreement": final["agreement"],
            "numerics": {"isa": isa, "reduce_range": final["reduce_range"], "chosen_for_isa": choice},
            "guard": record, "fit": record["passed"]}
