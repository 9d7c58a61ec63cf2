"""The side-by-side benchmark's isolated mode: every variant timed in a process of its own."""

from __future__ import annotations

import json

import pytest

from lprnet_opt.bench import bench_isolated


def test_isolated_rounds_time_each_variant_in_its_own_process(measured):
    rows, run = bench_isolated(measured, ["baseline", "pruned_onnx"], threads=1, warmup=1, runs=5, rounds=2)
    assert [r["variant"] for r in rows] == ["baseline", "pruned_onnx"]
    assert rows[0]["ratio_to_baseline"] == 1.0 and len(run["round_medians_ms"]["pruned_onnx"]) == 2
    for row in rows:
        assert 0 < row["round_min"] <= row["latency_ms"] <= row["round_max"]


def test_isolated_failure_names_the_variant(measured, tmp_path):
    (tmp_path / "eval").mkdir()
    record = json.loads((measured / "eval" / "baseline.json").read_text())
    record["artifact"] = str(tmp_path / "missing.pth")
    (tmp_path / "eval" / "broken.json").write_text(json.dumps(record))
    with pytest.raises(RuntimeError, match=r"timing .*missing\.pth \(eager\) alone failed"):
        bench_isolated(tmp_path, ["broken"], threads=1, warmup=1, runs=2, rounds=1)
