"""Static INT8 for OpenVINO (rule openvino_int8): NNCF post-training quantization, or ONNX
Runtime's QDQ of the equalized INT8 graph, whichever agrees more with fp32.

NNCF's input is the fp32 ONNX export that the OpenVINO fp32 peer runs, converted to an OpenVINO
model; the result is OpenVINO IR (`.xml` with its `.bin`). Its candidates differ in the preset
(MIXED: symmetric weights, asymmetric activations; PERFORMANCE: symmetric both) and in whether
the global-context normalisation and the container stay fp32 (onnx_quantize.ALWAYS_FP32). The
QDQ candidates (`qdq_models`, one per calibration method) are what the ONNX Runtime build makes,
outlier channels equalized, read by OpenVINO's ONNX frontend. All are measured on the
calibration split and recorded in the build JSON; the most per-time-step agreement with fp32 wins.

Numerics: NNCF's default overflow fix (7-bit weights in the first layer only) on every CPU
class. Measured on the real checkpoint with oneDNN capped at AVX2 (ONEDNN_MAX_CPU_ISA, which
OpenVINO's CPU plugin honours: its convs ran as jit_avx2_I8), the build agreed with fp32 on
0.962 of the calibration plates, as without the cap. The INT8 guard (`int8_guard`) still runs
the IR through OpenVINO; its "reduce range" fallback is the overflow fix on every layer, and its
fp32 fallback keeps convs fp32 in the order of a leave-one-out scan, run only then.

Under an accuracy budget (`max_drop`) the first attempt is NNCF's own search,
`quantize_with_accuracy_control`, on the judge plates: it returns the ops that cost the most
plates to fp32 until its drop is within the budget (up to `guard_fp32_layers` of them); the
guard then judges the saved IR through the runtime like any other attempt.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..chars import greedy_decode
from .int8_guard import GuardSettings, Judge, guard_fields, guarded_build, numerics_for
from ..isa import NOTE_KEY, isa_class, note_for
from .onnx_quantize import ALWAYS_FP32, fp32_nodes_of, prepare_fp32, quantize_sharing
from ..onnx_export import module_of
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
    # OpenVINO splits an ONNX Conv into "<name>/WithoutBiases" and the bias Add "<name>": naming
    # only the ONNX node left the conv quantized (every leave-one-out row measured alike).
    names = [name for node in fp32_nodes for name in (node, f"{node}/WithoutBiases")]
    ignored = (nncf.IgnoredScope(patterns=patterns, names=names, validate=False)
               if patterns or fp32_nodes else None)
    fix = OverflowFix.ENABLE if overflow_fix_all else OverflowFix.FIRST_LAYER
    return nncf.quantize(model.clone(), dataset, preset=getattr(nncf.QuantizationPreset, preset), subset_size=len(images),
                         ignored_scope=ignored, advanced_parameters=AdvancedQuantizationParameters(overflow_fix=fix))


def accuracy_controlled(model, images: np.ndarray, judge: Judge, preset: str, keep_fp32: str, max_drop: float,
                        max_reverted: int) -> tuple[object, dict]:
    """NNCF's own search under a budget (`quantize_with_accuracy_control`): quantize, then return
    the quantized ops that cost the most judged plates to fp32, one at a time, until the drop
    against the fp32 model on `judge` is within `max_drop` points or `max_reverted` ops are back.
    Its validation runs each plate at batch 1 and reports per-plate correctness, which NNCF uses
    to rank ops. Returns the model and the record of NNCF's validations."""
    import nncf
    from nncf.quantization.advanced_parameters import (
        AdvancedAccuracyRestorerParameters,
        AdvancedQuantizationParameters,
        OverflowFix,
    )

    validations: list[float] = []

    def validate(compiled, items) -> tuple[float, list[float]]:
        # NNCF validates subsets too (one item to learn the return types, then ranking subsets),
        # so each item carries its own label.
        output = compiled.output(0)
        correct = [float(greedy_decode(compiled(image)[output])[0] == label) for image, label in items]
        validations.append(float(np.mean(correct)))
        return validations[-1], correct

    patterns = KEEP_FP32[keep_fp32]
    quantized = nncf.quantize_with_accuracy_control(
        model.clone(), nncf.Dataset([images[i : i + 1] for i in range(len(images))]),
        nncf.Dataset([(judge.images[i : i + 1], label) for i, label in enumerate(judge.labels)]), validate,
        max_drop=max_drop / 100, drop_type=nncf.DropType.ABSOLUTE, preset=getattr(nncf.QuantizationPreset, preset),
        subset_size=len(images), ignored_scope=nncf.IgnoredScope(patterns=patterns, validate=False) if patterns else None,
        advanced_quantization_parameters=AdvancedQuantizationParameters(overflow_fix=OverflowFix.FIRST_LAYER),
        advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(max_num_iterations=max_reverted))
    return quantized, {"tool": "nncf.quantize_with_accuracy_control (absolute drop, judge plates at batch 1)",
                       "validated_accuracies": validations, "fp32_convs": fp32_convs(quantized)}


def fp32_convs(model) -> list[str]:
    """Convs of an NNCF model whose input is not fake-quantized, named as torch modules."""
    names = []
    for op in model.get_ops():
        if op.get_type_name() in ("Convolution", "GroupConvolution"):
            if op.input_value(0).get_node().get_type_name() != "FakeQuantize":
                node = op.get_friendly_name().removesuffix("/WithoutBiases")
                names.append(module_of(node) or node)
    return names


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


def qdq_models(source, calibration: np.ndarray, methods: Sequence[str], work: Path) -> tuple[Callable, list[str], list]:
    """ONNX Runtime's quantizer on the INT8 graph of `source` (onnx_quantize: context pools as
    depthwise convs, outlier channels equalized on `calibration`), as OpenVINO models: OpenVINO
    reads a QDQ graph's quantize/dequantize pairs as FakeQuantize and runs its convs in INT8 (18
    u8 convs on the real checkpoint, the context pools included). Returns `make(method,
    reduce_range, fp32_nodes)`, the convs it may keep fp32, and the channels equalization moved."""
    import openvino

    fp32 = work / "int8_graph.onnx"
    moved = prepare_fp32(source, fp32, calibration)
    rule_fp32, convs = fp32_nodes_of(fp32)
    made = itertools.count()

    def make(method: str, reduce_range: bool, fp32_nodes: Sequence[str] = ()):
        out = work / f"qdq{next(made)}.onnx"  # a file per model: none overwrites one still in use
        # Activation ranges do not depend on the weights' range or the fp32 convs: one calibration per method.
        quantize_sharing(fp32, out, calibration, method, "uint8", [*rule_fp32, *fp32_nodes],
                         lambda m: work / f"{m}.ranges", methods, reduce_range)
        return openvino.convert_model(str(out))

    return make, convs, moved


def build_openvino_int8(onnx_path: str | Path, calibration: np.ndarray, judge: Judge, threads: int,
                        path: str | Path, guard: GuardSettings, scan_images: int,
                        target_isa: str | None = None, source=None, qdq_methods: Sequence[str] = ()) -> dict:
    """Quantize each candidate, keep the one closest to fp32 on `calibration`, pass the INT8
    guard on `judge` (with a budget, `guard.max_drop`, the fewest fp32 convs within it), save it
    to `path`. Returns the build record.

    The candidates: NNCF's, on the fp32 export at `onnx_path`, and with `source` (the LPRNet
    model of that export) ONNX Runtime's QDQ, equalized, one per calibration method of
    `qdq_methods` (`qdq_models`). The closest is the one whose most likely class per time step
    agrees most with fp32's, then the least logit error, as in the ONNX Runtime build. Measured
    on the real checkpoint: NNCF's chosen candidate lost 5 judge plates and gained 0 against the
    baseline (36 NNCF settings tried, equalized inputs among them: at best 3 lost / 2 gained); the
    equalized QDQ, MinMax, lost 0 and gained 1 (docs/int8-equalize.md)."""
    import nncf
    import onnxruntime
    import openvino

    isa = target_isa or isa_class(onednn=True)
    # The QDQ weights are full-range int8 unless the class lacks VNNI: run capped at AVX2
    # (ONEDNN_MAX_CPU_ISA), full-range QDQ read 0.69 of the real evaluation plates like fp32, 7-bit
    # weights 0.95. NNCF's own overflow fix is measured enough there (module docstring).
    qdq_reduce_range, qdq_choice = numerics_for(isa)
    fp32_runner = load_runner("openvino_runtime", onnx_path, threads)
    reference = run_batched(fp32_runner, calibration, 1)
    source_plates = greedy_decode(run_batched(fp32_runner, judge.images, 1))
    fp32 = openvino.convert_model(str(onnx_path))
    with tempfile.TemporaryDirectory() as scratch:
        models, rows = {}, {}  # both keyed (preset, keep_fp32) for NNCF, ("qdq", method) for QDQ
        for preset in PRESETS:
            for keep in KEEP_FP32:
                models[preset, keep] = quantize_openvino(fp32, calibration, preset, keep)
                rows[preset, keep] = {"tool": "nncf", "preset": preset, "keep_fp32": keep}
        equalized = None
        if source is not None and qdq_methods:
            make_qdq, qdq_convs, equalized = qdq_models(source, calibration, qdq_methods, Path(scratch))
            for method in qdq_methods:
                models["qdq", method] = make_qdq(method, qdq_reduce_range)
                rows["qdq", method] = {"tool": "onnxruntime qdq", "method": method, "reduce_range": qdq_reduce_range}
        for key, row in rows.items():
            named = dict(row)
            row.update(logit_error(candidate_logits(models[key], calibration, threads), reference))
            log.info("candidate %s: logit mse %.4f frame agreement %.5f plate agreement %.4f", named,
                     row["logit_mse"], row["frame_agreement"], row["agreement"])
        best_key = min(rows, key=lambda k: (-rows[k]["frame_agreement"], rows[k]["logit_mse"]))
        qdq = best_key[0] == "qdq"
        first_reduce_range = qdq and qdq_reduce_range
        subset = calibration[:scan_images]
        scans: list[list[dict]] = []

        def make(reduce_range: bool, kept: Sequence[str], images: np.ndarray):
            if qdq:
                return make_qdq(best_key[1], reduce_range, kept)
            return quantize_openvino(fp32, images, *best_key, reduce_range, tuple(kept))

        def ranked() -> list[str]:
            candidates = qdq_convs if qdq else fp32_nodes_of(onnx_path)[1]
            scans.append(leave_one_out(lambda kept: candidate_logits(make(first_reduce_range, kept, subset), subset,
                                                                     threads), candidates, reference[: len(subset)]))
            return choose_fp32_layers(scans[0], len(candidates))

        built: list = []
        controlled: list[dict] = []

        def attempt(reduce_range: bool, kept: list[str]) -> tuple[int, list[str]]:
            first = (reduce_range, kept) == (first_reduce_range, [])
            if first and not qdq and guard.max_drop is not None:  # NNCF under a budget: its own accuracy control
                model, info = accuracy_controlled(fp32, calibration, judge, *best_key, guard.max_drop,
                                                  guard.max_extra_fp32_layers)
                built.append(model)
                controlled.append(info)
            else:  # the chosen candidate as measured above, or rebuilt with the guard's numerics
                built.append(models[best_key] if first else make(reduce_range, kept, calibration))
            return len(built) - 1, greedy_decode(candidate_logits(built[-1], judge.images, threads))

        chosen, record = guarded_build(attempt, first_reduce_range, [], ranked, guard, judge, source_plates)
    for entry in record["attempts"]:  # named as torch modules, as in the other INT8 records
        entry["fp32_layers"] = [module_of(n) or n for n in entry["fp32_layers"]]
    if controlled:  # and the convs NNCF returned to fp32 in its own attempt, besides those fp32 in every attempt
        fixed_fp32 = fp32_convs(models[best_key])
        record["attempts"][0]["fp32_layers"] = [c for c in controlled[0]["fp32_convs"] if c not in fixed_fp32]
    final = built[chosen]
    final.set_rt_info(note_for(isa), NOTE_KEY)
    save_ir(final, path)
    attempt_used = record["attempts"][record["chosen_attempt"]]
    return {
        "tool": (f"onnxruntime.quantization {onnxruntime.__version__} quantize_static (QDQ), converted by OpenVINO "
                 f"{openvino.__version__}" if qdq else f"nncf {nncf.__version__} quantize on OpenVINO {openvino.__version__}"),
        "chosen": rows[best_key],
        "preset": None if qdq else best_key[0],
        "fp32_layers": [*KEEP_FP32["context" if qdq else best_key[1]], *attempt_used["fp32_layers"]],
        "candidates": list(rows.values()),
        # Per equalized map of the QDQ candidates' graph: the outlier channels and their bound.
        "equalized": equalized,
        "sensitivity": scans[0] if scans else [],
        **({"accuracy_control": controlled[0]} if controlled else {}),
        "calibration_images": len(calibration),
        **guard_fields(record, isa, qdq_choice if qdq else (
            "NNCF's overflow fix (7-bit weights) on the first layer only, on every CPU class: measured unaffected "
            "by AVX2 kernels; the guard's reduce-range step fixes every layer")),
        "runtime_settings": settings(threads),
    }
