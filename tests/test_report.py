"""The report: Pareto logic, outputs, and a headless Chromium render with the network cut off."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from lprnet_opt.report import write_report


def record(variant, kind, accuracy, latency, size, sparsity=0.0):
    return {
        "variant": variant, "kind": kind, "accuracy": accuracy, "char_accuracy": accuracy, "agreement": 1.0,
        "latency_ms": latency, "latency_ms_p10": latency * 0.9, "latency_ms_p90": latency * 1.2,
        "speedup_vs_baseline": 10.0 / latency, "speedup_p10": 9.0 / latency, "speedup_p90": 11.0 / latency,
        "throughput_ips": 1000 / latency, "size_bytes": size, "size_gzip_bytes": size // 2, "peak_rss_mb": 300.0,
        "sparsity": sparsity, "n_images": 100, "threads": 2,
    }


@pytest.fixture
def report(tmp_path):
    rows = [
        record("baseline", "baseline", 0.90, 10.0, 1_800_000),
        record("quantized", "quantized", 0.89, 4.0, 500_000),
        record("pruned", "pruned", 0.895, 10.5, 980_000, 0.5),
        record("slow_bad", "tvm", 0.80, 30.0, 2_000_000),
    ]
    paths = []
    for row in rows:
        path = tmp_path / f"{row['variant']}.json"
        path.write_text(json.dumps(row))
        paths.append(path)
    out = tmp_path / "out"
    out.mkdir()
    frame = write_report(paths, out / "summary.csv", out / "summary.md", out / "report.html", out / "charts")
    return out, frame


def test_pareto_frontier(report):
    _, frame = report
    # pruned is slower and less accurate than baseline; slow_bad loses to everything
    assert set(frame[frame["pareto"]]["variant"]) == {"quantized", "baseline"}


def test_outputs_and_static_exports(report):
    out, _ = report
    for name in ("accuracy_latency", "speedup", "size", "sparsity", "published"):
        assert (out / "charts" / f"{name}.svg").read_text().startswith("<svg")
        assert (out / "charts" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert "| quantized |" in (out / "summary.md").read_text()
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
