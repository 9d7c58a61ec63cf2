"""Static INT8 for ONNX Runtime with its own tool, `onnxruntime.quantization` (rule onnx_int8).

QDQ format, per-channel symmetric int8 weights, activations calibrated on the calibration
split only. Three choices are measured on that split and recorded in the build JSON:
- the calibration method: of those configured (`quantization.onnx_calibration_methods`), the
  one whose most likely class per time step (what greedy decoding reads) agrees most with
  fp32's, then the least logit error. The logit error weighs classes nobody reads: with outlier
  channels equalized it ranked the real checkpoint's methods against their frame and plate
  agreement (docs/int8-equalize.md). Frames, not plates: 18 per plate, so a choice on the
  calibration split does not turn on one or two plates;
- the activation type: uint8 (U8S8) or int8 (S8S8), the faster of the two whose logit error is
  within 10% of the better one, timed side by side in alternating blocks;
- the layers kept fp32: a leave-one-out scan, as for the PyTorch INT8 build.
Weights use 7 bits (reduce_range) on CPUs without VNNI, where ONNX Runtime documents U8S8
saturation; the final model then passes the INT8 guard (`int8_guard`) through ONNX Runtime.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..chars import greedy_decode
from .equalize import equalize_outliers
from .int8_guard import GuardSettings, Judge, guard_fields, guarded_build, numerics_for
from ..isa import NOTE_KEY, isa_class, note_for
from ..onnx_export import export_onnx, int8_graph, module_of
from ..runtimes import load_runner, run_batched
from .sensitivity import choose_fp32_layers, leave_one_out, logit_error
from ..measure.timing import time_interleaved

log = logging.getLogger(__name__)

# Measured on the real checkpoint's calibration split: MinMax and Entropy ranges lost 4.5 pt
# of calibration accuracy, 99.999-percentile ranges 2.5 pt (logit mse 1.87 against 6.25).
# 99.99-percentile ranges then halved the logit error again (1.10 against 1.58; agreement 0.941
# against 0.893; AMD EPYC, 186 images); 99.9 clipped too much (mse 39).
CALIBRATION_METHODS = {
    "percentile": ("Percentile", {"CalibPercentile": 99.999}),
    "percentile_99.99": ("Percentile", {"CalibPercentile": 99.99}),
    "minmax": ("MinMax", {}),
    "entropy": ("Entropy", {}),
}
ACTIVATION_TYPES = {"uint8": "QUInt8", "int8": "QInt8"}
# Node-name prefixes that always stay fp32: the global-context normalisation (a division by
# a mean of squares), the concat feeding the container, the container conv and the final mean
# over height, for the reason given in quantize.ALWAYS_FP32.
ALWAYS_FP32 = ("/context_norms", "/Concat", "/container", "/ReduceMean")
# A type whose error is within this factor of the best counts as equally accurate.
ERROR_TOLERANCE = 1.1


def fp32_nodes_of(path: str | Path) -> tuple[list[str], list[str]]:
    """The nodes that stay fp32 by rule, and the Conv nodes the scan may leave in fp32."""
    import onnx

    nodes = onnx.load(str(path)).graph.node
    return ([n.name for n in nodes if n.name.startswith(ALWAYS_FP32)],
            [n.name for n in nodes if n.op_type == "Conv" and not n.name.startswith(ALWAYS_FP32)])


def prepare_fp32(model, path: str | Path, equalize_on: np.ndarray | None = None) -> list[dict]:
    """The INT8-friendly fp32 export, with ONNX Runtime's pre-processing (shape inference and
    graph optimisation) that `quantize_static` expects. With `equalize_on` (calibration images),
    outlier channels are equalized first (`equalize.equalize_outliers`); returns what moved."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    graph, moved = int8_graph(model), []
    if equalize_on is not None:
        graph, moved = equalize_outliers(graph, equalize_on)
    with tempfile.TemporaryDirectory() as scratch:
        exported = Path(scratch) / "fp32.onnx"
        export_onnx(graph, exported)
        with atomic_path(path) as tmp:
            quant_pre_process(str(exported), str(tmp))
    return moved


def quantize_onnx(fp32: str | Path, output: str | Path, images: np.ndarray, method: str, activation: str,
                  fp32_nodes: list[str], cache: str | Path, reduce_range: bool = False) -> None:
    """One QDQ INT8 model. Calibration ranges are cached in `cache`, so the scan's many builds
    with the same method run the calibration images once."""
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    class Plates(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"images": images[i : i + 1]} for i in range(len(images))])

        def get_next(self):
            return next(self.batches, None)

    calibration, options = CALIBRATION_METHODS[method]
    with atomic_path(output) as tmp:
        quantize_static(str(fp32), str(tmp), Plates(), quant_format=QuantFormat.QDQ, per_channel=True,
                        reduce_range=reduce_range,
                        activation_type=getattr(QuantType, ACTIVATION_TYPES[activation]),
                        weight_type=QuantType.QInt8, calibrate_method=getattr(CalibrationMethod, calibration),
                        nodes_to_exclude=fp32_nodes, extra_options=dict(options), calibration_cache_path=str(cache))


@contextmanager
def kept_calibrators() -> Iterator[list]:
    """The calibrators `quantize_static` creates while inside, kept alive with their histograms.
    quantize_static has no argument for this, so its module's `create_calibrator` is wrapped
    (the module by name: the package's attribute `quantize` is a function)."""
    import importlib

    ort_quantize = importlib.import_module("onnxruntime.quantization.quantize")

    made, create = [], ort_quantize.create_calibrator

    def keep(*args, **kwargs):
        made.append(create(*args, **kwargs))
        return made[-1]

    ort_quantize.create_calibrator = keep
    try:
        yield made
    finally:
        ort_quantize.create_calibrator = create


def share_percentile_histograms(calibrator, cache_of: Callable[[str], Path], methods: Sequence[str]) -> list[str]:
    """Ranges for the other percentile methods of `methods` from one calibrator's histograms, written where
    `quantize_static` reads a method's cached ranges (`cache_of(method)`), so it skips the
    calibration. Percentile methods differ only in the percentile read off the same histogram
    (2048 bins of absolute values): collecting it again took 12-16 s of a 75-s build."""
    from onnxruntime.quantization.calibrate import PercentileCalibrater, save_tensors_data

    if not isinstance(calibrator, PercentileCalibrater):
        return []
    shared = []
    for method in methods:
        calibration, options = CALIBRATION_METHODS[method]
        if calibration == "Percentile" and not cache_of(method).exists():
            calibrator.collector.percentile = options["CalibPercentile"]
            save_tensors_data(calibrator.compute_data(), cache_of(method))
            shared.append(method)
    return shared


def quantize_sharing(fp32: str | Path, output: str | Path, images: np.ndarray, method: str, activation: str,
                     fp32_nodes: list[str], cache_of: Callable[[str], Path], methods: Sequence[str],
                     reduce_range: bool) -> None:
    """`quantize_onnx` with `method`'s ranges cached at `cache_of(method)`; a percentile
    calibration also writes the ranges of the other percentile methods of `methods`."""
    with kept_calibrators() as made:
        quantize_onnx(fp32, output, images, method, activation, fp32_nodes, cache_of(method), reduce_range)
    for calibrator in made:
        if shared := share_percentile_histograms(calibrator, cache_of, methods):
            log.info("calibration %s: its histograms also give the ranges of %s", method, ", ".join(shared))


def with_isa_note(source: Path, path: str | Path, isa: str) -> None:
    """`source` written to `path` with the CPU class it was built for in its metadata, which
    the runtime checks at load."""
    import onnx

    model = onnx.load(str(source))
    entry = model.metadata_props.add()
    entry.key, entry.value = NOTE_KEY, note_for(isa)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))


def build_onnx_int8(model, calibration: np.ndarray, judge: Judge, max_fp32_layers: int, scan_images: int,
                    threads: int, path: str | Path, guard: GuardSettings, target_isa: str | None = None,
                    methods: Sequence[str] = tuple(CALIBRATION_METHODS), timing_runs: int = 200,
                    activation_scan: bool = False, equalize: bool = True) -> dict:
    """Choose numerics for `target_isa` (None: this CPU's class), method (of `methods`), fp32 layers (with a budget,
    `guard.max_drop`: none at first) and activation type on `calibration` images, pass the INT8
    guard on `judge`, and write `path`. Returns the build record; with `activation_scan`, it
    holds the scan of the written artifact's activation quantizers on the judge plates. With
    `equalize`, outlier channels are equalized on the calibration images first (`equalize.py`)."""
    import onnxruntime

    # MLAS picks its kernels by CPUID: ONEDNN_MAX_CPU_ISA does not apply to ONNX Runtime.
    isa = target_isa or isa_class(onednn=False)
    reduce_range, choice = numerics_for(isa)

    def logits(model_path: Path, images: np.ndarray) -> np.ndarray:
        return run_batched(load_runner("onnx_runtime", model_path, threads), images, 64)

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        fp32 = work / "fp32.onnx"
        equalized = prepare_fp32(model, fp32, calibration if equalize else None)
        log.info("equalized: %s", equalized or ("no outlier channel" if equalize else "off"))
        rule_fp32, nodes = fp32_nodes_of(fp32)
        reference = logits(fp32, calibration)
        source_plates = greedy_decode(logits(fp32, judge.images))

        def cache_of(method: str) -> Path:
            return work / f"{method}.ranges"

        def build(method: str, activation: str, fp32_nodes: list[str], name: str, rr: bool = reduce_range) -> Path:
            out = work / f"{name}.onnx"
            quantize_sharing(fp32, out, calibration, method, activation, [*rule_fp32, *fp32_nodes], cache_of, methods, rr)
            return out

        unknown = [m for m in methods if m not in CALIBRATION_METHODS]
        if unknown or not methods:
            raise ValueError(f"calibration methods {unknown or '(none)'}: choose from {list(CALIBRATION_METHODS)}")
        compared = []
        for method in methods:
            compared.append({"method": method, **logit_error(logits(build(method, "uint8", [], method), calibration), reference)})
            log.info("calibration %s: logit mse %.4f frame agreement %.5f plate agreement %.4f", method,
                     compared[-1]["logit_mse"], compared[-1]["frame_agreement"], compared[-1]["agreement"])
        method = min(compared, key=lambda r: (-r["frame_agreement"], r["logit_mse"]))["method"]

        subset = calibration[:scan_images]
        scans: list[list[dict]] = []

        def scan() -> list[dict]:
            if not scans:
                scans.append(leave_one_out(lambda kept: logits(build(method, "uint8", kept, "scan"), subset), nodes,
                                           reference[: len(subset)]))
            return scans[0]

        fixed = max_fp32_layers if guard.max_drop is None else 0  # a budget starts from none
        fp32_nodes = choose_fp32_layers(scan(), fixed) if fixed > 0 else []
        candidates = {a: build(method, a, fp32_nodes, a) for a in ACTIVATION_TYPES}
        times = time_interleaved({a: load_runner("onnx_runtime", p, threads) for a, p in candidates.items()},
                                 calibration[:1], warmup=20, runs=timing_runs)
        activations = [{"activation": a, "median_ms": float(np.median(times[a])),
                        **logit_error(logits(p, calibration), reference)} for a, p in candidates.items()]
        best_error = min(r["logit_mse"] for r in activations)
        accurate = [r for r in activations if r["logit_mse"] <= best_error * ERROR_TOLERANCE]
        activation = min(accurate, key=lambda r: r["median_ms"])["activation"]
        log.info("activations: %s; chose %s", activations, activation)

        def attempt(rr: bool, kept: list[str]) -> tuple[Path, list[str]]:
            out = (candidates[activation] if rr == reduce_range and kept == fp32_nodes
                   else build(method, activation, kept, f"guard{len(kept)}_{int(rr)}", rr))
            return out, greedy_decode(logits(out, judge.images))

        final_path, record = guarded_build(attempt, reduce_range, fp32_nodes,
                                           lambda: choose_fp32_layers(scan(), len(nodes)), guard, judge, source_plates)
        with_isa_note(final_path, path, isa)
        if activation_scan:
            from .activation_scan import scan_activations

            activations_scanned = scan_activations(path, source_plates, judge.images, threads)
    final = dict(record["attempts"][record["chosen_attempt"]])
    scan_rows = scans[0] if scans else []
    for row in scan_rows:
        row["node"], row["layer"] = row["layer"], "none" if row["layer"] == "none" else module_of(row["layer"])
    for entry in record["attempts"]:  # named as torch modules, as in the PT2E record
        entry["fp32_layers"] = [module_of(n) or n.strip("/") for n in entry["fp32_layers"]]
    return {
        "tool": f"onnxruntime.quantization {onnxruntime.__version__}: quantize_static, QDQ, per-channel int8 weights",
        "graph": "folded; strided-pool channels grouped; context pools as depthwise convs (onnx_export.int8_graph)"
                 + ("; outlier channels equalized on the calibration images (compress/equalize.py)" if equalize else ""),
        # Per equalized map: the outlier channels, their range and the bound they were scaled to.
        "equalized": equalized if equalize else None,
        "calibration_method": method,
        "calibration_methods": compared,
        "activation_type": activation,
        "activation_types": activations,
        "fp32_layers": sorted({module_of(n) or n.strip("/") for n in [*final["fp32_layers"], *rule_fp32]}),
        "fp32_nodes": [*final["fp32_layers"], *rule_fp32],
        "sensitivity": scan_rows,
        "sensitivity_path": "ONNX Runtime, the runtime that ships",
        **({"activation_sensitivity": activations_scanned} if activation_scan else {}),
        "calibration_images": len(calibration),
        **guard_fields(record, isa, choice),
    }
