"""The side-by-side benchmark's isolated mode: every variant timed in a process of its own."""

from __future__ import annotations

import json

import pytest

from lprnet_opt.bench import bench_isolated


def test_isolated_rounds_time_each_variant_in_its_own_process(measured):
    rows, run = bench_isolated(measured, ["baseline", "pruned_onnx", "pruned"], threads=1, warmup=1, rounds=2,
                               process_sets=2, block_ms=2.0)
    assert [r["variant"] for r in rows] == ["baseline", "pruned_onnx", "pruned"]
    assert rows[0]["ratio_to_baseline"] == 1.0 and len(run["round_medians_ms"]["pruned_onnx"]) == 2
    assert run["round_process_set"] == [0, 1]  # one round in each of two fresh sets
    for row in rows:
        assert 0 < row["round_min"] <= row["latency_ms"] <= row["round_max"]
    # Each against the first listed variant of its own runtime: pruned (eager) against the
    # baseline, paired by round; the only ONNX Runtime variant against itself.
    assert [r["same_runtime_reference"] for r in rows] == ["baseline", "pruned_onnx", "baseline"]
    medians = run["round_medians_ms"]
    per_round = [p / b for p, b in zip(medians["pruned"], medians["baseline"])]
    assert rows[2]["ratio_to_same_runtime"] == pytest.approx(sorted(per_round)[0] / 2 + sorted(per_round)[1] / 2, rel=1e-3)
    assert rows[2]["same_runtime_ci_low"] <= rows[2]["ratio_to_same_runtime"] <= rows[2]["same_runtime_ci_high"]
    assert rows[1]["ratio_to_same_runtime"] == 1.0


def test_isolated_failure_names_the_variant(measured, tmp_path):
    (tmp_path / "eval").mkdir()
    record = json.loads((measured / "eval" / "baseline.json").read_text())
    record["artifact"] = str(tmp_path / "missing.pth")
    (tmp_path / "eval" / "broken.json").write_text(json.dumps(record))
    with pytest.raises(RuntimeError, match=r"timing .*missing\.pth \(eager\) alone failed"):
        bench_isolated(tmp_path, ["broken"], threads=1, warmup=1, rounds=1)
