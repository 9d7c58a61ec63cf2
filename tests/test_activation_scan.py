"""The activation-quantizer scan finds the quantizer that loses plates, on a real ONNX Runtime INT8
build of the shipped synthetic baseline with one activation scale forced wrong."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import REPO, own_judge
from lprnet_opt.checkpoint import load_model
from lprnet_opt.compress.int8_guard import GuardSettings
from lprnet_opt.data import PlateSet

SOURCE = REPO / "data/baseline_synthetic.pth"


@pytest.fixture(scope="module")
def plates(plates48) -> PlateSet:
    return plates48


@pytest.fixture(scope="module")
def int8_model(plates, tmp_path_factory):
    from lprnet_opt.compress.onnx_quantize import build_onnx_int8

    path = tmp_path_factory.mktemp("int8") / "model.onnx"
    build_onnx_int8(load_model(SOURCE), plates.images[:24], own_judge(plates.images, SOURCE), max_fp32_layers=0,
                    scan_images=8, threads=1, path=path, guard=GuardSettings(min_agreement=0.0, max_extra_fp32_layers=0),
                    methods=("minmax",), timing_runs=5)
    return path


def break_scale(path, out, factor: float = 200.0) -> str:
    """The first backbone activation's QuantizeLinear given its own scale, `factor` times too
    coarse (its DequantizeLinear keeps the calibrated one): nearly every value rounds to zero."""
    import onnx
    from onnx import numpy_helper

    from lprnet_opt.compress.activation_scan import activation_quantizers, producer_of

    model = onnx.load(str(path))
    tensor = next(t for t in sorted(activation_quantizers(model)) if producer_of(model, t).startswith("backbone"))
    quantize = activation_quantizers(model)[tensor][0][0]
    scale = next(i for i in model.graph.initializer if i.name == quantize.input[1])
    wrong = numpy_helper.from_array(numpy_helper.to_array(scale) * np.float32(factor), name=scale.name + "_forced")
    model.graph.initializer.append(wrong)
    quantize.input[1] = wrong.name
    onnx.save(model, str(out))
    return tensor


def test_the_scan_ranks_a_quantizer_with_a_wrong_scale_first(int8_model, plates, tmp_path):
    from lprnet_opt.chars import greedy_decode
    from lprnet_opt.compress.activation_scan import scan_activations
    from lprnet_opt.model import predict_logits

    source = greedy_decode(predict_logits(load_model(SOURCE), plates.images))
    healthy = scan_activations(int8_model, source, plates.images, threads=1, cumulative=1, timing_runs=5)
    broken_path = tmp_path / "broken.onnx"
    tensor = break_scale(int8_model, broken_path)
    broken = scan_activations(broken_path, source, plates.images, threads=1, cumulative=2, timing_runs=5)

    assert healthy["quantizers"] == broken["quantizers"] > 5
    # One row per scale: ONNX Runtime gives a pool's output its input's scale, and they are
    # bypassed together; the forced scale was the tensor's own, so it has a row of its own.
    assert len(healthy["pairs"]) == healthy["scales"] < healthy["quantizers"]
    assert any(len(r["tensors"]) > 1 for r in healthy["pairs"])
    assert sorted(t for r in healthy["pairs"] for t in r["tensors"]) == sorted(t for r in broken["pairs"] for t in r["tensors"])
    assert broken["agreement"] < healthy["agreement"] - 0.3  # the forced scale costs plates
    top = broken["pairs"][0]
    assert top["tensors"] == [tensor] and top["producer"].startswith("backbone")
    # Bypassing it alone restores the healthy build's plates, up to what the others lose.
    assert top["agreement"] >= healthy["agreement"] - 0.05 and top["plates_fixed"] > 10
    assert all(r["gain"] < top["gain"] for r in broken["pairs"][1:])
    assert [c["k"] for c in broken["cumulative"]] == [1, 2] and broken["cumulative"][0]["tensors"] == [tensor]
    assert all(c["latency_ratio"] > 0 for c in broken["cumulative"])


def test_an_int8_build_with_the_scan_records_it_and_the_report_charts_it(plates, tmp_path):
    import pandas as pd

    from lprnet_opt.compress.onnx_quantize import build_onnx_int8
    from lprnet_opt.report.activation_chart import activation_scan_chart

    info = build_onnx_int8(load_model(SOURCE), plates.images[:24], own_judge(plates.images, SOURCE), max_fp32_layers=0,
                           scan_images=8, threads=1, path=tmp_path / "scanned.onnx",
                           guard=GuardSettings(min_agreement=0.0, max_extra_fp32_layers=0), methods=("minmax",),
                           timing_runs=5, activation_scan=True)
    scan = info["activation_sensitivity"]
    assert scan["images"] == 48 and len(scan["pairs"]) == scan["scales"] > 5
    assert scan["agreement"] == info["guard"]["attempts"][info["guard"]["chosen_attempt"]]["agreement"]
    chart = activation_scan_chart(pd.DataFrame([{"variant": "onnx_int8", "build": info}]), 400)
    values = chart.to_dict()["datasets"]
    assert sum(len(v) for v in values.values()) == 1 + len(scan["cumulative"])
