"""Static INT8 for OpenVINO with its own tool, NNCF post-training quantization (rule openvino_int8).

The input is the fp32 ONNX export that the OpenVINO fp32 peer runs, converted to an OpenVINO
model; the result is OpenVINO IR (`.xml` with its `.bin`). Two choices are measured on the
calibration split (least logit error against fp32) and recorded in the build JSON: the preset
(MIXED: symmetric weights, asymmetric activations; PERFORMANCE: symmetric both) and whether
the global-context normalisation and the container stay fp32 (onnx_quantize.ALWAYS_FP32).

Numerics: NNCF's default overflow fix (7-bit weights in the first layer only) on every CPU
class. Measured on the real checkpoint with oneDNN capped at AVX2 (ONEDNN_MAX_CPU_ISA, which
OpenVINO's CPU plugin honours: its convs ran as jit_avx2_I8), the build agreed with fp32 on
0.962 of the calibration plates, as without the cap. The INT8 guard (`int8_guard`) still runs
the IR through OpenVINO; its "reduce range" fallback is the overflow fix on every layer, and its
fp32 fallback keeps convs fp32 in the order of a leave-one-out scan, run only then.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from ..chars import greedy_decode
from .int8_guard import GuardSettings, Judge, guard_fields, guarded_build
from ..isa import NOTE_KEY, isa_class, note_for
from .onnx_quantize import ALWAYS_FP32, fp32_nodes_of
from ..runtimes import load_runner, run_batched
from ..runtimes.openvino_runtime import settings
from .sensitivity import choose_fp32_layers, leave_one_out, logit_error

log = logging.getLogger(__name__)

PRESETS = ("MIXED", "PERFORMANCE")
KEEP_FP32 = {"none": [], "context": [f"{prefix}.*" for prefix in ALWAYS_FP32]}


def quantize_openvino(model, images: np.ndarray, preset: str, keep_fp32: str, overflow_fix_all: bool = False,
                      fp32_nodes: tuple[str, ...] = ()):
    """One NNCF INT8 model (in memory) of the OpenVINO `model`, calibrated on every image of
    `images`; `model` itself is left as it was. `fp32_nodes` are node names kept fp32 besides
    the `keep_fp32` patterns; `overflow_fix_all` uses 7-bit weights in every layer."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    dataset = nncf.Dataset([images[i : i + 1] for i in range(len(images))])
    patterns = KEEP_FP32[keep_fp32]
    ignored = (nncf.IgnoredScope(patterns=patterns, names=list(fp32_nodes), validate=False)
               if patterns or fp32_nodes else None)
    fix = OverflowFix.ENABLE if overflow_fix_all else OverflowFix.FIRST_LAYER
    return nncf.quantize(model.clone(), dataset, preset=getattr(nncf.QuantizationPreset, preset), subset_size=len(images),
                         ignored_scope=ignored, advanced_parameters=AdvancedQuantizationParameters(overflow_fix=fix))


def save_ir(model, path: str | Path) -> None:
    """`path` (.xml) and its .bin, both complete or neither: written in a scratch folder, then
    moved, the .bin first so that an .xml on disk always has its weights."""
    import openvino

    path = Path(path)
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        xml = Path(scratch) / path.name
        openvino.save_model(model, str(xml), compress_to_fp16=False)
        xml.with_suffix(".bin").replace(path.with_suffix(".bin"))
        xml.replace(path)


def candidate_logits(model, images: np.ndarray, threads: int) -> np.ndarray:
    """`model` saved as IR and run by the OpenVINO runtime, as it ships."""
    import openvino

    with tempfile.TemporaryDirectory() as scratch:
        xml = Path(scratch) / "candidate.xml"
        openvino.save_model(model, str(xml), compress_to_fp16=False)
        return run_batched(load_runner("openvino_runtime", xml, threads), images, 1)


def build_openvino_int8(onnx_path: str | Path, calibration: np.ndarray, judge: Judge, threads: int,
                        path: str | Path, guard: GuardSettings, scan_images: int,
                        target_isa: str | None = None) -> dict:
    """Quantize each candidate, keep the one closest to fp32 on `calibration`, pass the INT8
    guard on `judge` (with a budget, `guard.max_drop`, the fewest fp32 convs within it), save it
    to `path`. Returns the build record."""
    import nncf
    import openvino

    isa = target_isa or isa_class(onednn=True)
    fp32_runner = load_runner("openvino_runtime", onnx_path, threads)
    reference = run_batched(fp32_runner, calibration, 1)
    source_plates = greedy_decode(run_batched(fp32_runner, judge.images, 1))
    fp32 = openvino.convert_model(str(onnx_path))
    rows, models = [], {}
    for preset in PRESETS:
        for keep in KEEP_FP32:
            model = quantize_openvino(fp32, calibration, preset, keep)
            rows.append({"preset": preset, "keep_fp32": keep,
                         **logit_error(candidate_logits(model, calibration, threads), reference)})
            models[preset, keep] = model
            log.info("nncf %s keep fp32 %s: logit mse %.4f agreement %.4f", preset, keep,
                     rows[-1]["logit_mse"], rows[-1]["agreement"])
    best = min(rows, key=lambda r: r["logit_mse"])
    preset, keep = best["preset"], best["keep_fp32"]
    subset = calibration[:scan_images]
    scans: list[list[dict]] = []

    def ranked() -> list[str]:
        candidates = fp32_nodes_of(onnx_path)[1]
        scans.append(leave_one_out(
            lambda kept: candidate_logits(quantize_openvino(fp32, subset, preset, keep, fp32_nodes=tuple(kept)),
                                          subset, threads),
            candidates, reference[: len(subset)]))
        return choose_fp32_layers(scans[0], len(candidates))

    built: list = []

    def attempt(fix_all: bool, kept: list[str]) -> tuple[int, list[str]]:
        # The chosen candidate (no fallback yet) is the one measured above.
        built.append(models[preset, keep] if not (fix_all or kept)
                     else quantize_openvino(fp32, calibration, preset, keep, fix_all, tuple(kept)))
        return len(built) - 1, greedy_decode(candidate_logits(built[-1], judge.images, threads))

    chosen, record = guarded_build(attempt, False, [], ranked, guard, judge, source_plates)
    final = built[chosen]
    final.set_rt_info(note_for(isa), NOTE_KEY)
    save_ir(final, path)
    attempt_used = record["attempts"][record["chosen_attempt"]]
    return {
        "tool": f"nncf {nncf.__version__} quantize on OpenVINO {openvino.__version__}",
        "preset": preset,
        "fp32_layers": [*KEEP_FP32[keep], *attempt_used["fp32_layers"]],
        "candidates": rows,
        "sensitivity": scans[0] if scans else [],
        "calibration_images": len(calibration),
        **guard_fields(record, isa, "NNCF's overflow fix (7-bit weights) on the first layer only, on every CPU class: "
                       "measured unaffected by AVX2 kernels; the guard's reduce-range step fixes every layer"),
        "runtime_settings": settings(threads),
    }
