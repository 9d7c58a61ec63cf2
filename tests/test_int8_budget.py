"""An INT8 build under an accuracy budget (`max_drop`), with real ONNX Runtime builds of the
shipped synthetic baseline on 48 generated plates.

The judge's labels are the source's own plates (conftest.own_judge): the source reads every
judged plate right, so the estimated drop of any INT8 attempt is at least 0, and a negative
budget is one no attempt can meet.
"""

from __future__ import annotations

import pytest

from conftest import REPO, own_judge
from lprnet_opt.checkpoint import load_model
from lprnet_opt.compress.int8_guard import GuardSettings
from lprnet_opt.data import PlateSet

SOURCE = REPO / "data/baseline_synthetic.pth"


@pytest.fixture(scope="module")
def plates(plates48) -> PlateSet:
    return plates48


def build(budget: float, plates: PlateSet, path) -> dict:
    from lprnet_opt.compress.onnx_quantize import build_onnx_int8

    # Calibrated on half the plates, judged on all 48; max_fp32_layers 1 is what a budget replaces.
    return build_onnx_int8(load_model(SOURCE), plates.images[:24], own_judge(plates.images, SOURCE),
                           max_fp32_layers=1, scan_images=16, threads=1, timing_runs=10, path=path,
                           guard=GuardSettings(min_agreement=0.0, max_extra_fp32_layers=2, max_drop=budget))


def test_a_budget_the_first_attempt_meets_ships_no_fp32_conv_and_skips_the_scan(plates, tmp_path):
    info = build(100.0, plates, tmp_path / "loose.onnx")
    search = info["search"]
    assert info["goal_met"] and search["goal_met"] and info["fit"]
    assert len(search["path"]) == 1 and search["chosen"]["fp32_layers"] == []
    assert search["judge_images"] == 48 and search["chosen"]["images"] == 48
    assert search["chosen"]["drop_pt"] <= 100.0 and search["certainty"].startswith("within")
    # The scan that max_fp32_layers would have needed never ran.
    assert info["sensitivity"] == [] and (tmp_path / "loose.onnx").is_file()


def test_a_budget_no_attempt_meets_keeps_the_least_estimated_drop_and_says_so(plates, tmp_path):
    info = build(-1.0, plates, tmp_path / "none.onnx")
    search, attempts = info["search"], info["guard"]["attempts"]
    rr_first = attempts[0]["reduce_range"]
    assert [a["step"] for a in attempts] == ["chosen numerics", *([] if rr_first else ["reduce range"]),
                                             "1 more fp32 layer(s)", "2 more fp32 layer(s)"]
    assert not info["goal_met"] and not search["goal_met"]
    assert info["fit"]  # agreement is a separate bound (0 here): a missed budget is not unfit
    assert search["chosen"]["drop_pt"] == min(a["drop_pt"] for a in attempts) >= 0
    assert all(a["lost"] - a["gained"] == round(a["drop_pt"] * 48 / 100) for a in attempts)
    # The fp32 fallback followed the scan's order of measured harm.
    ranked = [r["layer"] for r in sorted(info["sensitivity"][1:], key=lambda r: r["gain"], reverse=True)]
    assert attempts[-1]["fp32_layers"] == ranked[:2]
    assert search["certainty"].startswith(("over", "inconclusive"))


@pytest.mark.slow  # NNCF's search validates 20-40 times: about a minute each
@pytest.mark.parametrize("budget", [100.0, -1.0])
def test_openvino_int8_under_a_budget_runs_nncfs_accuracy_control_first(plates, tmp_path, budget):
    """NNCF's own search is the first attempt: its validations are recorded, and the convs it
    returned to fp32 are named. A budget it cannot meet goes on to the guard's fallbacks."""
    from lprnet_opt.compress.openvino_quantize import build_openvino_int8
    from lprnet_opt.onnx_export import export_onnx
    from lprnet_opt.rewrites import fp32_graph

    export_onnx(fp32_graph(load_model(SOURCE)), tmp_path / "fp32.onnx")
    info = build_openvino_int8(tmp_path / "fp32.onnx", plates.images[:24], own_judge(plates.images, SOURCE), 1,
                               tmp_path / "m.xml", GuardSettings(0.0, 2, budget), 8)
    control, first = info["accuracy_control"], info["guard"]["attempts"][0]
    assert control["validated_accuracies"] and control["tool"].startswith("nncf.quantize_with_accuracy_control")
    assert first["step"] == "chosen numerics" and (tmp_path / "m.xml").is_file()
    if budget > 0:
        assert info["goal_met"] and len(info["guard"]["attempts"]) == 1 and first["fp32_layers"] == []
    else:
        assert not info["goal_met"] and len(first["fp32_layers"]) <= 2
        assert [a["step"] for a in info["guard"]["attempts"]][1:] == ["reduce range", "1 more fp32 layer(s)",
                                                                      "2 more fp32 layer(s)"]
