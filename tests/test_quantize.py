"""The three INT8 builds on tiny inputs: PT2E (quantized), ONNX Runtime (onnx_int8), NNCF (openvino_int8)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lprnet_opt.checkpoint import load_model
from lprnet_opt.model import predict_logits
from lprnet_opt.quantize import ALWAYS_FP32, build_quantized, quantize_model
from lprnet_opt.runtimes import load_runner
from lprnet_opt.sensitivity import choose_fp32_layers, leave_one_out



def run_alone(code: str, blocked: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`code` in a fresh isolated interpreter in which importing any of `blocked` fails."""
    guard = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in blocked)
    return subprocess.run([sys.executable, "-I", "-c", guard + code], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def calibration() -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, (16, 3, 24, 94)).astype(np.float32)


def test_pt2e_artifact_is_int8_lowered_and_runs_from_its_file_alone(random_weights, calibration, tmp_path):
    path = tmp_path / "quantized.pt2"
    info = build_quantized(lambda: load_model(random_weights), calibration, 0, 8, 1, path)
    assert set(ALWAYS_FP32) <= set(info["fp32_layers"])
    # The lowering check: inductor fused and lowered every quantized conv to oneDNN's qconv.
    lowered = info["inductor_qconv_lowerings"]
    assert lowered["qconv_unary_lower_count"] >= 15, lowered
    # int8 weights only (the fp32 originals are dropped): far below the fp32 checkpoint.
    assert path.stat().st_size < 0.35 * random_weights.stat().st_size
    np.save(tmp_path / "x.npy", calibration[:2])
    # A fresh interpreter with torch alone: neither this project nor torchao can be imported.
    code = (
        "import numpy as np, torch, torch.ao.quantization.fx._decomposed\n"
        "torch._inductor.config.freezing = True\n"
        "model = torch.compile(torch.export.load('quantized.pt2').module())\n"
        "with torch.inference_mode(): y = model(torch.from_numpy(np.load('x.npy')))\n"
        "assert y.shape == (2, 68, 18), y.shape\n"
    )
    done = run_alone(code, ["lprnet_opt", "torchao"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "deprecated" not in done.stderr.lower(), done.stderr[-2000:]


def test_onnx_int8_runs_with_onnxruntime_alone_and_records_its_choices(random_weights, calibration, tmp_path):
    from lprnet_opt.onnx_quantize import CALIBRATION_METHODS, build_onnx_int8

    path = tmp_path / "model.onnx"
    info = build_onnx_int8(load_model(random_weights), calibration, 1, 8, 1, 20, path)
    assert [r["method"] for r in info["calibration_methods"]] == list(CALIBRATION_METHODS)
    assert info["calibration_method"] == min(info["calibration_methods"], key=lambda r: r["logit_mse"])["method"]
    assert {r["activation"] for r in info["activation_types"]} == {"uint8", "int8"}
    assert len(info["sensitivity"]) == 1 + 18  # fully INT8, then each conv (and depthwise pool) alone fp32
    assert any(n.startswith("/container") for n in info["fp32_layers"])
    np.save(tmp_path / "x.npy", calibration[:2])
    code = (
        "import numpy as np, onnxruntime as ort\n"
        "session = ort.InferenceSession('model.onnx', providers=['CPUExecutionProvider'])\n"
        "y = session.run(None, {'images': np.load('x.npy')})[0]\n"
        "assert y.shape == (2, 68, 18), y.shape\n"
        "assert {i.op_type for i in __import__('onnx').load('model.onnx').graph.node} >= {'QuantizeLinear', 'DequantizeLinear'}\n"
    )
    done = run_alone(code, ["lprnet_opt", "torch", "openvino"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]


def test_openvino_int8_runs_with_openvino_alone(random_weights, calibration, tmp_path):
    from lprnet_opt.onnx_export import export_onnx
    from lprnet_opt.openvino_quantize import PRESETS, build_openvino_int8
    from lprnet_opt.rewrites import fp32_graph

    export_onnx(fp32_graph(load_model(random_weights)), tmp_path / "fp32.onnx")
    path = tmp_path / "model.xml"
    info = build_openvino_int8(tmp_path / "fp32.onnx", calibration, 1, path)
    assert {r["preset"] for r in info["candidates"]} == set(PRESETS) and info["preset"] in PRESETS
    assert info["runtime_settings"]["INFERENCE_PRECISION_HINT"] == "f32"
    assert path.with_suffix(".bin").stat().st_size < 0.5 * (tmp_path / "fp32.onnx").stat().st_size
    np.save(tmp_path / "x.npy", calibration[:2])
    code = (
        "import numpy as np, openvino as ov\n"
        "model = ov.Core().compile_model('model.xml', 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})\n"
        "y = model(np.load('x.npy'))[0]\n"
        "assert y.shape == (2, 68, 18), y.shape\n"
        "assert any('FakeQuantize' == op.get_type_name() for op in ov.Core().read_model('model.xml').get_ops())\n"
    )
    done = run_alone(code, ["lprnet_opt", "torch", "onnxruntime"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]


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
    from lprnet_opt.quantize import save_exported

    converted = quantize_model(load_model(random_weights), calibration, list(ALWAYS_FP32))
    expected = predict_logits(converted, calibration[:4])
    save_exported(converted, tmp_path / "q.pt2")
    got = np.concatenate([load_runner("exported_inductor", tmp_path / "q.pt2", 1)(calibration[i : i + 1]) for i in range(4)])
    scale = np.abs(expected).max()
    assert np.abs(got - expected).max() < 0.05 * scale
