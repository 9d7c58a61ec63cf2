"""The report: Pareto logic, outputs, and a headless Chromium render with the network cut off."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from conftest import render_offline
from lprnet_opt.kinds import snippet_of
from lprnet_opt.report.outputs import write_report
from lprnet_opt.report.goal import Goal, judge_drops, recommendations
from lprnet_opt.report.results import pareto_flags


@pytest.fixture
def report(measured, tmp_path):
    """The report of records that `measure_variant` wrote for real variants (conftest.measured)."""
    out = tmp_path / "out"
    out.mkdir()
    paths = sorted((measured / "eval").glob("*.json"))
    frame = write_report(paths, measured / "timing.json", out / "summary.csv", out / "summary.md", out / "report.html",
                         out / "charts", judge_paths=sorted((measured / "judge").glob("*.json")))
    return out, frame


def test_pareto_frontier_ranks_speed_by_the_paired_ratio_not_milliseconds():
    frame = pd.DataFrame({"variant": ["baseline", "quantized", "pruned", "slow_bad"],
                          "rank_ratio": [1.0, 0.4, 1.05, 3.0], "accuracy": [0.90, 0.89, 0.895, 0.80],
                          # milliseconds of a machine whose level moved: they would put pruned first
                          "latency_ms": [10.0, 4.0, 3.0, 30.0]})
    # pruned is slower (by its ratio) and less accurate than baseline; slow_bad loses to everything
    assert pareto_flags(frame) == [True, True, False, False]


def test_sparsity_chart_draws_the_measured_pruned_variant(report):
    out, frame = report
    assert frame.set_index("variant").loc["pruned", "sparsity"] == pytest.approx(0.5, abs=1e-3)
    svg = (out / "charts" / "sparsity.svg").read_text()
    # One point per sweep variant (baseline and pruned); the ONNX row is not a sweep kind.
    assert svg.count('role="graphics-symbol"') >= 2 or svg.count("<path") >= 3, svg[:500]


def test_outputs_and_static_exports(report):
    out, _ = report
    for name in ("frontier", "accuracy", "accuracy_latency", "speedup", "size", "sparsity"):
        assert (out / "charts" / f"{name}.svg").read_text().startswith("<svg")
        assert (out / "charts" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    summary = (out / "summary.md").read_text()
    assert "| pruned_onnx |" in summary and "| budget | ship (evaluation verdict) |" in summary
    assert summary.splitlines()[0].startswith("Ship ")
    html = (out / "report.html").read_text()
    assert not re.search(r"<script[^>]+src=", html), "every script must be inline"
    assert "NOT measured here" in html and "sha256" not in html  # no checkpoint given: no hash invented


def test_every_record_carries_its_interval_and_paired_test(report):
    _, frame = report
    for _, row in frame.iterrows():
        assert row["accuracy_ci_low"] <= row["accuracy"] <= row["accuracy_ci_high"]
        assert row["n_correct"] == round(row["accuracy"] * row["n_images"])
        assert 0 <= row["mcnemar_p"] <= 1
    baseline = frame.set_index("variant").loc["baseline"]
    assert baseline["plates_gained"] == baseline["plates_lost"] == 0 and baseline["mcnemar_p"] == 1.0
    for _, row in frame.iterrows():
        assert row["speedup_ci_low"] <= row["speedup_vs_eager"] <= row["speedup_ci_high"]


def test_recommendation_ships_the_fastest_and_smallest_qualifying_variant_with_its_verdict(report, measured):
    _, frame = report
    judged = judge_drops(sorted((measured / "judge").glob("*.json")))
    timing = json.loads((measured / "timing.json").read_text())
    chosen = recommendations(frame, judged, timing, Goal(max_drop=1.0))
    assert [entry["limit_pt"] for entry in chosen] == [0.5, 1.0, 2.0]
    assert [entry["is_goal"] for entry in chosen] == [False, True, False]
    for entry in chosen:
        # Random weights read no plate right, so no variant loses one and every variant qualifies.
        assert entry["ship"]["variant"] == frame.loc[frame["latency_ms"].idxmin(), "variant"]
        assert entry["smallest"]["variant"] == frame.loc[frame["size_bytes"].idxmin(), "variant"]
        # No plate changed, but 24 plates cannot put a 0.5-2 pt budget outside the interval.
        assert entry["ship"]["verdict"] == "consistent" and entry["goal_met"]
        assert entry["smallest"]["snippet"] == snippet_of(entry["smallest"]["kind"], entry["smallest"]["artifact"])


def test_report_renders_offline_in_chromium(report, tmp_path):
    out, _ = report
    dom, charts = render_offline(out / "report.html", tmp_path)
    assert set(charts) == {"frontier", "accuracy", "accuracy_latency", "speedup", "size", "sparsity"}, dom[:2000]
    assert 'id="answer"' in dom and "Ship " in dom
    assert 'id="recommendation"' in dom and dom.count("<pre>") >= 6  # a snippet per choice and constraint
