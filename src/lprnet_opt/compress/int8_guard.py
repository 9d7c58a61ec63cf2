"""The guard every INT8 build passes through: the artifact as shipped, run by its own runtime,
must agree with its fp32 source on the judge plates, or the build falls back; with an accuracy
budget (`max_drop`) its estimated drop against the source must stay within it as well.

Why a guard on the shipped path: on an AVX2-only AMD EPYC the PT2E build's sensitivity scan
(the reference graph, fp32 arithmetic) said 0.97-0.98 agreement while the inductor-lowered
artifact agreed on 0.65 of the plates, and it shipped. Only the runtime's own kernels show
saturation.

Attempts, in order, stopping at the first that passes:
1. the numerics chosen for this CPU class, with the layers the sensitivity scan chose (with a
   budget: no fp32 conv at all);
2. reduce range (7-bit weights), when attempt 1 did not use it;
3. one more fp32 conv at a time, in the scan's order of measured harm, with whichever of the
   numerics above did better, up to `max_extra_fp32_layers`.
So with a budget the build ships the fewest fp32 convs whose estimated drop is within it.
When no attempt passes, the variant is never silently shipped as if it had: with agreement
below the bound everywhere the best-agreeing attempt is kept and marked unfit (the report never
recommends it); when some attempt agrees but none meets the budget, the one with the least
estimated drop is kept and marked `goal_met: false`. The run goes on either way.

Judge plates are never evaluation plates: the calibration split, plus generated plates for a
budget when the evaluated images are generated too (as for the channel-pruning search, and
for the same reasons: `compress/prune_search.py`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from ..isa import has_vnni
from ..measure.stats import paired_drop, verdict_sentence
from ..metrics import agreement

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GuardSettings:
    # Least share of judge plates read as the fp32 source reads them. 0.9 (measured on the
    # real checkpoint, 186 calibration images, AMD EPYC): the saturated full-range PT2E build on
    # AVX2 kernels agreed on 0.65-0.67, its reduce-range rebuild on 0.96; the VNNI builds on
    # 0.96-0.97 (PT2E, NNCF) and 0.91-0.94 (ONNX Runtime, whose evaluation accuracy is still
    # within noise of the baseline: 9 plates gained, 11 lost, p = 0.82). A plate is 0.54 pt of
    # agreement there, so a bound at 0.95 would reject sound ONNX Runtime builds by one or two
    # plates; real accuracy differences are for the paired test on the evaluation split.
    min_agreement: float
    # How many convs beyond the first attempt's the last fallback may keep fp32.
    max_extra_fp32_layers: int
    # The accuracy budget in points of exact-plate accuracy against the source, estimated on
    # the judge plates; None: no budget (the scan's `max_fp32_layers` decide).
    max_drop: float | None = None


@dataclass(frozen=True)
class Judge:
    """The plates each attempt is judged on, never evaluation plates, with their true text."""
    images: np.ndarray
    labels: list[str]
    judged_on: str

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise ValueError(f"judge plates: {len(self.images)} images for {len(self.labels)} labels")


def judge_of(calibration, extra=None) -> Judge:
    """The judge plates: the calibration split (a `data.PlateSet`), plus `extra` generated plates
    when given, which the rules pass whenever the images are generated (rules/common.smk,
    judge_plates): one set for every guard and for the goal's judge readings."""
    if extra is None or not len(extra.labels):
        return Judge(calibration.images, list(calibration.labels), "calibration split")
    return Judge(np.concatenate([calibration.images, extra.images]), [*calibration.labels, *extra.labels],
                 "calibration split + generated plates")


# What one attempt built: a file, or a model in memory.
Built = TypeVar("Built")


def guarded_build(attempt: Callable[[bool, list[str]], tuple[Built, Sequence[str]]], reduce_range: bool,
                  fp32_layers: list[str], ranked_layers: Callable[[], list[str]],
                  settings: GuardSettings, judge: Judge, source_plates: Sequence[str]) -> tuple[Built, dict]:
    """Run the attempts until one passes. `attempt(reduce_range, fp32_layers)` builds one
    artifact and returns it with its plates for the judge images, read through its runtime.
    Returns the chosen artifact and the guard's record (every attempt, the verdict, the reason
    when unfit, and with a budget whether it was met).

    `ranked_layers` is called only when the fp32 fallback is reached: the layers in order of
    measured harm, most harmful first (a scan the build may not otherwise need).
    """
    attempts: list[dict] = []
    built: list = []
    source_correct = [s == t for s, t in zip(source_plates, judge.labels, strict=True)]
    budget = settings.max_drop

    def run(rr: bool, layers: list[str], step: str) -> bool:
        start = time.perf_counter()
        artifact, plates = attempt(rr, layers)
        built.append(artifact)
        drop = paired_drop(source_correct, [p == t for p, t in zip(plates, judge.labels, strict=True)])
        entry = {"step": step, "reduce_range": rr, "fp32_layers": list(layers),
                 "agreement": agreement(list(plates), list(source_plates)), **drop}
        entry["agrees"] = entry["agreement"] >= settings.min_agreement
        entry["meets"] = budget is None or entry["drop_pt"] <= budget + 1e-9
        entry["passed"] = entry["agrees"] and entry["meets"]
        entry["seconds"] = round(time.perf_counter() - start, 1)
        attempts.append(entry)
        log.info("INT8 guard, %s (reduce_range=%s, %d fp32 layers): agreement %.4f (bound %.3f), estimated drop "
                 "%.2f pt (%d lost, %d gained of %d%s), %.1fs: %s", step, rr, len(layers), entry["agreement"],
                 settings.min_agreement, entry["drop_pt"], entry["lost"], entry["gained"], entry["images"],
                 "" if budget is None else f"; budget {budget:g} pt", entry["seconds"],
                 "pass" if entry["passed"] else "fail")
        return entry["passed"]

    passed = run(reduce_range, fp32_layers, "chosen numerics")
    if not passed and not reduce_range:
        passed = run(True, fp32_layers, "reduce range")
    if not passed and settings.max_extra_fp32_layers > 0:
        # The numerics that did better: more agreement, then (with a budget) less drop.
        best_rr = max(attempts, key=lambda a: (a["agrees"], -a["drop_pt"] if budget is not None else a["agreement"]))[
            "reduce_range"]
        extra = [layer for layer in ranked_layers() if layer not in fp32_layers]
        for k in range(1, min(settings.max_extra_fp32_layers, len(extra)) + 1):
            if run(best_rr, [*fp32_layers, *extra[:k]], f"{k} more fp32 layer(s)"):
                passed = True
                break
    agreeing = [i for i, a in enumerate(attempts) if a["agrees"]]
    if passed:
        chosen = len(attempts) - 1
    elif agreeing:  # only the budget missed: the least estimated drop ships
        chosen = min(agreeing, key=lambda i: (attempts[i]["drop_pt"], -attempts[i]["agreement"]))
    else:
        chosen = max(range(len(attempts)), key=lambda i: attempts[i]["agreement"])
    best = attempts[chosen]
    reason = None if agreeing else (
        f"agreement {best['agreement']:.4f} with the fp32 source below the bound {settings.min_agreement:g} after "
        f"{len(attempts)} attempts ({', '.join(a['step'] for a in attempts)})")
    if reason:
        log.warning("INT8 build unfit: %s", reason)
    record = {"min_agreement": settings.min_agreement, "attempts": attempts, "chosen_attempt": chosen,
              "passed": not reason, "unfit_reason": reason, "judged_on": judge.judged_on}
    if budget is not None:
        record["search"] = {"max_drop": budget, "path": attempts, "chosen": best, "goal_met": best["passed"],
                            "judged_on": judge.judged_on, "judge_images": len(judge.labels),
                            "certainty": verdict_sentence(best, budget)}
        log.info("budget %g pt: %d fp32 layers, estimated drop %.2f pt: %s; %s", budget, len(best["fp32_layers"]),
                 best["drop_pt"], "goal met" if best["passed"] else "GOAL NOT MET, the least estimated drop ships",
                 record["search"]["certainty"])
    return built[chosen], record


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
            "guard": record, "fit": record["passed"],
            **({"search": record["search"], "goal_met": record["search"]["goal_met"]} if "search" in record else {})}
