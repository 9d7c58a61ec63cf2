"""The side-by-side benchmark's isolated mode: every variant timed in a process of its own."""

from __future__ import annotations

import json

import pytest

from lprnet_opt.bench import bench_isolated


def write_eval(results, variant: str, artifact) -> None:
    (results / "eval").mkdir(parents=True, exist_ok=True)
    record = {"variant": variant, "kind": "baseline", "artifact": str(artifact), "accuracy": 0.0}
    (results / "eval" / f"{variant}.json").write_text(json.dumps(record))


def test_isolated_rounds_time_each_variant_in_its_own_process(tmp_path, random_weights):
    for variant in ("first", "second"):
        write_eval(tmp_path, variant, random_weights)
    rows = bench_isolated(tmp_path, ["first", "second"], threads=1, warmup=1, runs=5, rounds=2)
    assert [r["variant"] for r in rows] == ["first", "second"]
    assert rows[0]["speedup_vs_first"] == 1.0
    for row in rows:
        assert 0 < row["round_min"] <= row["latency_ms"] <= row["round_max"]


def test_isolated_failure_names_the_variant(tmp_path, random_weights):
    write_eval(tmp_path, "broken", tmp_path / "missing.pth")
    with pytest.raises(RuntimeError, match="timing broken alone failed"):
        bench_isolated(tmp_path, ["broken"], threads=1, warmup=1, runs=2, rounds=1)
