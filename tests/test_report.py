"""The report: Pareto logic, outputs, and a headless Chromium render with the network cut off."""

from __future__ import annotations

import re
import shutil
import subprocess

import pandas as pd
import pytest

from lprnet_opt.report import pareto_flags, write_report


@pytest.fixture
def report(measured, tmp_path):
    """The report of records that `measure_variant` wrote for real variants (conftest.measured)."""
    out = tmp_path / "out"
    out.mkdir()
    paths = sorted((measured / "eval").glob("*.json"))
    frame = write_report(paths, measured / "timing.json", out / "summary.csv", out / "summary.md", out / "report.html",
                         out / "charts")
    return out, frame


def test_pareto_frontier():
    frame = pd.DataFrame({"variant": ["baseline", "quantized", "pruned", "slow_bad"],
                          "latency_ms": [10.0, 4.0, 10.5, 30.0], "accuracy": [0.90, 0.89, 0.895, 0.80]})
    # pruned is slower and less accurate than baseline; slow_bad loses to everything
    assert pareto_flags(frame) == [True, True, False, False]


def test_sparsity_chart_draws_the_measured_pruned_variant(report):
    out, frame = report
    assert frame.set_index("variant").loc["pruned", "sparsity"] == pytest.approx(0.5, abs=1e-3)
    svg = (out / "charts" / "sparsity.svg").read_text()
    # One point per sweep variant (baseline and pruned); the ONNX row is not a sweep kind.
    assert svg.count('role="graphics-symbol"') >= 2 or svg.count("<path") >= 3, svg[:500]


def test_outputs_and_static_exports(report):
    out, _ = report
    for name in ("accuracy_latency", "speedup", "size", "sparsity", "published"):
        assert (out / "charts" / f"{name}.svg").read_text().startswith("<svg")
        assert (out / "charts" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert "| pruned_onnx |" in (out / "summary.md").read_text()
    html = (out / "report.html").read_text()
    assert not re.search(r"<script[^>]+src=", html), "every script must be inline"
    assert "NOT measured here" in html


def test_report_renders_offline_in_chromium(report, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("chromium not installed (CI installs Debian's chromium)")
    out, _ = report
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         # No network at all: every host is unresolvable and every proxy connection refused.
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000", "--dump-dom",
         (out / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    dom = result.stdout
    charts = re.findall(r'<div class="chart[^"]*" id="chart-\d+" data-name="(\w+)"[^>]*>(.*?)</div>', dom, re.S)
    assert len(charts) == 5, dom[:2000]
    for name, inner in charts:
        assert "<svg" in inner, f"chart {name} did not draw"
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line and ("Error" in line or "error" in line)]
    assert not console, console
