"""The check a reduced-precision float variant passes (bf16 in OpenVINO or inductor): the model as
shipped, run by its own runtime in that precision, against its fp32 source on the judge plates.

bf16 has no fallback steps, unlike INT8 (`int8_guard`): a variant below the agreement bound
(`quantization.min_agreement`) or over its `max_drop` is marked unfit with the reason, so the
report never recommends it. The precision recorded is the one read back from the compiled
model (`runtimes.precision_of`), never inferred from the CPU: OpenVINO decides at every compile,
keeps f32 under a bf16 hint on CPUs without bf16 support and emulates bf16 on AVX-512 CPUs
without the bf16 instructions.
"""

from __future__ import annotations

import logging
import time

from ..isa import bf16_capability
from ..measure.accuracy import predict_plates, predict_reference
from ..measure.stats import paired_drop
from ..metrics import agreement
from ..runtimes import load_runner, precision_of
from .int8_guard import Judge

log = logging.getLogger(__name__)


def check_precision(runtime: str, artifact: str, precision: str, source_weights: str, judge: Judge, threads: int,
                    min_agreement: float, max_drop: float | None = None) -> dict:
    """The build record of a non-f32 variant: the precision read back, and its agreement with and
    estimated drop against the eager fp32 source on the judge plates; `fit` False with the reason
    when it fails the bound or the budget."""
    start = time.perf_counter()
    source = predict_reference(source_weights, judge.images, threads)
    runner = load_runner(runtime, artifact, threads, precision)
    read = precision_of(runner)
    _, plates = predict_plates(runner, judge.images, f"{precision} {artifact}")
    source_correct = [p == t for p, t in zip(source.plates, judge.labels, strict=True)]
    drop = paired_drop(source_correct, [p == t for p, t in zip(plates, judge.labels, strict=True)])
    agreed = agreement(plates, source.plates)
    reasons = []
    if agreed < min_agreement:
        reasons.append(f"agreement {agreed:.4f} with the fp32 source below the bound {min_agreement:g}")
    if max_drop is not None and drop["drop_pt"] > max_drop + 1e-9:
        reasons.append(f"estimated drop {drop['drop_pt']:.2f} pt over the budget of {max_drop:g} pt")
    reason = "; ".join(reasons) or None
    capability = bf16_capability(onednn=True)
    ran = read.get("ran")
    note = None
    if ran != precision:
        note = f"{precision} requested, {ran} ran: the runtime did not use {precision} on this CPU (bf16: {capability})"
    elif precision == "bf16" and capability == "none":
        note = "bf16 ran emulated: this CPU (as oneDNN sees it) has no bf16 instructions"
    guard = {"min_agreement": min_agreement, "agreement": agreed, **drop, "max_drop": max_drop,
             "passed": reason is None, "unfit_reason": reason, "judged_on": judge.judged_on,
             "seconds": round(time.perf_counter() - start, 1)}
    log.info("%s guard: read back %s, agreement %.4f (bound %g), estimated drop %.2f pt (%d lost, %d gained of %d)%s: %s",
             precision, ran, agreed, min_agreement, drop["drop_pt"], drop["lost"], drop["gained"], drop["images"],
             "" if max_drop is None else f", budget {max_drop:g} pt", reason or "pass")
    if note:
        log.warning("%s", note)
    return {"source_weights": str(source_weights), "precision": read, "bf16_capability": capability,
            "precision_note": note, "guard": guard, "fit": reason is None,
            **({} if max_drop is None else {"goal_met": reason is None})}
