"""The three INT8 builds on tiny inputs: PT2E (quantized), ONNX Runtime (onnx_int8), NNCF (openvino_int8)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import own_judge

from lprnet_opt.checkpoint import load_model
from lprnet_opt.compress.int8_guard import GuardSettings
from lprnet_opt.isa import isa_class
from lprnet_opt.model import predict_logits
from lprnet_opt.compress.quantize import ALWAYS_FP32, build_quantized, quantize_model
from lprnet_opt.runtimes import load_runner
from lprnet_opt.compress.sensitivity import choose_fp32_layers, leave_one_out



def run_alone(code: str, blocked: list[str], cwd: Path, images: np.ndarray) -> str:
    """`code` in a fresh isolated interpreter in which importing any of `blocked` fails, with
    `images` in x.npy and the logits it leaves in `y` checked for shape; returns its stderr."""
    np.save(cwd / "x.npy", images)
    guard = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in blocked)
    check = f"\nassert y.shape == ({len(images)}, 68, 18), y.shape\n"
    done = subprocess.run([sys.executable, "-I", "-c", guard + code + check], capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr

# A bound every build passes: tests of what a build writes, not of the guard.
NO_GUARD = GuardSettings(min_agreement=0.0, max_extra_fp32_layers=0)


@pytest.fixture(scope="module")
def calibration() -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, (16, 3, 24, 94)).astype(np.float32)


def test_pt2e_artifact_is_int8_lowered_and_runs_from_its_file_alone(random_weights, calibration, tmp_path):
    path = tmp_path / "quantized.pt2"
    info = build_quantized(lambda: load_model(random_weights), calibration, own_judge(calibration, random_weights), 0, 8, 1,
                           path, NO_GUARD)
    assert set(ALWAYS_FP32) <= set(info["fp32_layers"])
    assert info["numerics"]["isa"] == isa_class(onednn=True) and info["fit"] and info["guard"]["passed"]
    # The lowering check: inductor fused and lowered every quantized conv to oneDNN's qconv.
    lowered = info["inductor_qconv_lowerings"]
    assert lowered["qconv_unary_lower_count"] >= 15, lowered
    # int8 weights only (the fp32 originals are dropped): far below the fp32 checkpoint.
    assert path.stat().st_size < 0.35 * random_weights.stat().st_size
    # A fresh interpreter with torch alone: neither this project nor torchao can be imported.
    code = (
        "import numpy as np, torch, torch.ao.quantization.fx._decomposed\n"
        "torch._inductor.config.freezing = True\n"
        "model = torch.compile(torch.export.load('quantized.pt2').module())\n"
        "with torch.inference_mode(): y = model(torch.from_numpy(np.load('x.npy')))"
    )
    stderr = run_alone(code, ["lprnet_opt", "torchao"], tmp_path, calibration[:2])
    assert "deprecat" not in stderr.lower(), stderr[-2000:]


def test_onnx_int8_runs_with_onnxruntime_alone_and_records_its_choices(random_weights, calibration, tmp_path):
    from lprnet_opt.compress.onnx_quantize import CALIBRATION_METHODS, build_onnx_int8

    path = tmp_path / "model.onnx"
    info = build_onnx_int8(load_model(random_weights), calibration, own_judge(calibration, random_weights), 1, 8, 1,
                           path, NO_GUARD, timing_runs=20)
    assert info["numerics"]["isa"] == isa_class(onednn=False) and info["fit"]
    assert [r["method"] for r in info["calibration_methods"]] == list(CALIBRATION_METHODS)
    # The most frame agreement with fp32 (greedy decoding's per-step classes), then the least logit error.
    assert all(0 <= r["frame_agreement"] <= 1 for r in info["calibration_methods"])
    assert info["calibration_method"] == min(info["calibration_methods"],
                                             key=lambda r: (-r["frame_agreement"], r["logit_mse"]))["method"]
    assert {r["activation"] for r in info["activation_types"]} == {"uint8", "int8"}
    assert len(info["sensitivity"]) == 1 + 18  # fully INT8, then each conv (and depthwise pool) alone fp32
    # Layers are named as the torch modules they came from, as in the PT2E scan.
    from lprnet_opt.compress.quantize import candidate_layers

    pools = {f"context_pools.{i}" for i in range(3)}
    assert {r["layer"] for r in info["sensitivity"][1:]} == set(candidate_layers(load_model(random_weights))) - {"container.0"} | pools
    assert "container.0" in info["fp32_layers"] and "/container/container.0/Conv" in info["fp32_nodes"]
    code = (
        "import numpy as np, onnxruntime as ort\n"
        "session = ort.InferenceSession('model.onnx', providers=['CPUExecutionProvider'])\n"
        "y = session.run(None, {'images': np.load('x.npy')})[0]"
    )
    run_alone(code, ["lprnet_opt", "torch", "openvino"], tmp_path, calibration[:2])
    import onnx

    assert {n.op_type for n in onnx.load(str(path)).graph.node} >= {"QuantizeLinear", "DequantizeLinear"}


def test_the_configurable_onnx_calibration_methods_are_the_builds_own():
    import json

    from lprnet_opt.compress.onnx_quantize import CALIBRATION_METHODS
    from lprnet_opt.config import validate_config

    schema = json.loads((Path(__file__).parents[1] / "src/lprnet_opt/config.schema.json").read_text())
    choices = schema["properties"]["quantization"]["properties"]["onnx_calibration_methods"]["items"]["enum"]
    assert choices == list(CALIBRATION_METHODS)
    default = validate_config({})["quantization"]["onnx_calibration_methods"]
    assert set(default) < set(CALIBRATION_METHODS) and "entropy" not in default


def test_percentile_ranges_from_shared_histograms_equal_their_own_calibration(random_weights, calibration, tmp_path):
    """The 99.99 ranges read off the 99.999 calibration's histograms are the ranges that
    quantize_static computes when it calibrates 99.99 itself."""
    import json

    from lprnet_opt.compress.onnx_quantize import (fp32_nodes_of, kept_calibrators, prepare_fp32, quantize_onnx,
                                                   share_percentile_histograms)

    fp32 = tmp_path / "fp32.onnx"
    prepare_fp32(load_model(random_weights), fp32)
    rule_fp32 = fp32_nodes_of(fp32)[0]
    shared, own = tmp_path / "shared", tmp_path / "own"
    with kept_calibrators() as made:
        quantize_onnx(fp32, tmp_path / "a.onnx", calibration, "percentile", "uint8", rule_fp32, shared / "percentile.ranges")
    assert share_percentile_histograms(made[0], lambda m: shared / f"{m}.ranges", ["percentile", "minmax"]) == []
    assert share_percentile_histograms(made[0], lambda m: shared / f"{m}.ranges",
                                       ["percentile", "percentile_99.99", "minmax"]) == ["percentile_99.99"]
    quantize_onnx(fp32, tmp_path / "b.onnx", calibration, "percentile_99.99", "uint8", rule_fp32,
                  own / "percentile_99.99.ranges")
    by_sharing, by_itself = (json.loads((d / "percentile_99.99.ranges").read_text()) for d in (shared, own))
    assert by_sharing == by_itself
    # and they are other ranges than 99.999's, or the test would prove nothing
    assert by_sharing != json.loads((shared / "percentile.ranges").read_text())


def test_openvino_int8_runs_with_openvino_alone(random_weights, calibration, tmp_path):
    from lprnet_opt.onnx_export import export_onnx
    from lprnet_opt.compress.openvino_quantize import PRESETS, build_openvino_int8
    from lprnet_opt.rewrites import fp32_graph

    export_onnx(fp32_graph(load_model(random_weights)), tmp_path / "fp32.onnx")
    path = tmp_path / "model.xml"
    info = build_openvino_int8(tmp_path / "fp32.onnx", calibration, own_judge(calibration, random_weights), 1, path,
                               NO_GUARD, 8)
    assert {r["preset"] for r in info["candidates"]} == set(PRESETS) and info["preset"] in PRESETS
    assert info["runtime_settings"]["INFERENCE_PRECISION_HINT"] == "f32"
    assert path.with_suffix(".bin").stat().st_size < 0.5 * (tmp_path / "fp32.onnx").stat().st_size
    code = (
        "import numpy as np, openvino as ov\n"
        "model = ov.Core().compile_model('model.xml', 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})\n"
        "y = model(np.load('x.npy'))[0]"
    )
    run_alone(code, ["lprnet_opt", "torch", "onnxruntime"], tmp_path, calibration[:2])
    import openvino

    assert "FakeQuantize" in {op.get_type_name() for op in openvino.Core().read_model(str(path)).get_ops()}


def test_sensitivity_scan_keeps_the_layer_whose_error_it_removes():
    reference = np.zeros((4, 68, 18), np.float32)
    error_of = {"a": 0.1, "b": 0.5, "c": 0.0}  # kept fp32, layer X leaves this much logit error

    def quantized_logits(kept: list[str]) -> np.ndarray:
        return reference + (error_of[kept[0]] if kept else 0.6)

    scan = leave_one_out(quantized_logits, ["a", "b", "c"], reference)
    assert [r["layer"] for r in scan] == ["none", "a", "b", "c"]
    assert scan[0]["logit_mse"] == pytest.approx(0.36)
    assert choose_fp32_layers(scan, 1) == ["c"] and choose_fp32_layers(scan, 2) == ["c", "a"]


def test_pt2e_runtime_matches_the_converted_graph(random_weights, calibration, tmp_path):
    """What inductor runs is what was calibrated: the compiled artifact's logits against the
    converted graph's reference (decomposed) execution."""
    from lprnet_opt.compress.quantize import save_exported

    converted = quantize_model(load_model(random_weights), calibration, list(ALWAYS_FP32))
    expected = predict_logits(converted, calibration[:4])
    save_exported(converted, tmp_path / "q.pt2")
    got = np.concatenate([load_runner("exported_inductor", tmp_path / "q.pt2", 1)(calibration[i : i + 1]) for i in range(4)])
    scale = np.abs(expected).max()
    assert np.abs(got - expected).max() < 0.05 * scale


def test_logit_error_counts_frames_whose_most_likely_class_changed():
    from lprnet_opt.chars import BLANK_INDEX, NUM_CLASSES
    from lprnet_opt.compress.sensitivity import logit_error

    # Two plates of 4 time steps; one step of the second plate has another most likely class.
    reference = np.zeros((2, NUM_CLASSES, 4), np.float32)
    reference[:, BLANK_INDEX, :] = 1.0
    reference[:, 3, 1] = 5.0
    changed = reference.copy()
    changed[1, 7, 2] = 9.0
    error = logit_error(changed, reference)
    assert error["frame_agreement"] == pytest.approx(7 / 8)
    assert error["agreement"] == pytest.approx(0.5)  # that plate now reads another character
    assert error["logit_mse"] == pytest.approx(81 / (2 * NUM_CLASSES * 4))
