"""The timing stage: every variant side by side, and a run beside other work is flagged."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from conftest import quick_timing
from lprnet_opt.kinds import KINDS
from lprnet_opt.record import read_record
from lprnet_opt.report.outputs import write_report
from lprnet_opt.report.page import INVALID
from lprnet_opt.measure.side_by_side import timing_record


def test_timing_record_has_every_variant_with_paired_ratios(measured):
    timing = json.loads((measured / "timing.json").read_text())
    assert set(timing["variants"]) == {"baseline", "pruned", "pruned_onnx"}
    assert {"load_avg", "rounds", "process_sets", "contended", "round_foreign_cores", "round_steal_cores",
            "env"} <= set(timing)
    assert timing["rounds"] == 4 and len(timing["round_foreign_cores"]) == len(timing["round_steal_cores"]) == 4
    assert timing["round_process_set"] == [0, 0, 1, 1]  # rounds split evenly over two fresh sets of processes
    # The timed processes are this run's own work: counted as foreign, a round read ~1 core here.
    assert max(timing["round_foreign_cores"]) < 0.5, timing["round_foreign_cores"]
    baseline, onnx = timing["variants"]["baseline"], timing["variants"]["pruned_onnx"]
    assert baseline["ratio_to_eager"] == 1.0 and onnx["ratio_to_onnxruntime"] == 1.0
    assert onnx["throughput_ratio_to_onnxruntime"] == 1.0 and onnx["throughput_ratio_to_onnxruntime_ci"] == [1.0, 1.0]
    for entry in timing["variants"].values():
        assert entry["latency_round_min_ms"] <= entry["latency_ms"] <= entry["latency_round_max_ms"]
        assert entry["latency_p10_ms"] <= entry["latency_p90_ms"]
        assert entry["peak_rss_mb"] > 10 and entry["throughput_ips"] > 0 and entry["latency_round_spread"] >= 0
        low, high = entry["ratio_to_onnxruntime_ci"]
        assert low <= entry["ratio_to_onnxruntime"] <= high
        # Throughput in the first round of each set only (the latency objective): two numbers, paired.
        assert sum(x is not None for x in entry["round_images_per_second"]) == 2
    assert not onnx["torch_imported"]  # its peak RSS holds ONNX Runtime alone


BURN = "import time\nend = time.time() + 120\nwhile time.time() < end:\n    pass\n"


def test_timing_beside_other_work_is_flagged_and_the_report_shows_no_latency(measured, tmp_path):
    artifacts = {v: (KINDS[r.kind].runtime, r.artifact)
                 for v, r in ((p.stem, read_record(p)) for p in (measured / "eval").glob("*.json"))}
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(2)]
    try:
        timing = timing_record(artifacts, measured / "sample.npy",
                               quick_timing(foreign_load_limit=0.5, max_retimed_rounds=1),
                               "baseline", "pruned_onnx")
    finally:
        for burner in burners:
            burner.kill()
    print(json.dumps({k: timing[k] for k in ("contended", "contention_reasons", "round_foreign_cores",
                                             "retimed_rounds", "load_avg")}, indent=1))
    assert timing["contended"] and timing["retimed_rounds"] == 1
    assert any("cores used by other processes" in reason for reason in timing["contention_reasons"])

    (tmp_path / "timing.json").write_text(json.dumps(timing))
    out = tmp_path / "out"
    frame = write_report(sorted((measured / "eval").glob("*.json")), tmp_path / "timing.json", out / "s.csv",
                         out / "s.md", out / "r.html", out / "charts",
                         judge_paths=sorted((measured / "judge").glob("*.json")))
    assert frame["latency_ms"].isna().all()
    assert (out / "s.md").read_text().startswith("No composition can be recommended")
    assert INVALID in (out / "s.md").read_text() and "timing run was contended" in (out / "r.html").read_text()
    assert not (out / "charts" / "speedup.svg").exists()


def test_blocks_are_sized_by_time_not_by_calls():
    from lprnet_opt.measure.timing import MAX_BLOCK_CALLS, MIN_BLOCK_CALLS, calls_for

    assert calls_for(40, 6.0) == 7 and calls_for(40, 0.2) == 200  # a 6 ms row costs what a 0.2 ms row costs
    assert calls_for(40, 0.01) == MAX_BLOCK_CALLS and calls_for(40, 100.0) == MIN_BLOCK_CALLS
    assert calls_for(40, None) == MIN_BLOCK_CALLS


def test_foreign_load_counts_the_timed_processes_as_own_and_steal_apart():
    """Reaped children and the live processes named as own (the timed ones) are this run's work;
    the same busy process not named is foreign; steal is a number of its own."""
    from lprnet_opt.measure.contention import ForeignLoad

    monitor = ForeignLoad()
    subprocess.run([sys.executable, "-c", "import time\nend = time.time() + 0.5\nwhile time.time() < end: pass"],
                   check=True)
    reaped, stolen = monitor.cores()
    burner = subprocess.Popen([sys.executable, "-c", BURN])
    try:
        time.sleep(0.3)  # past its start-up
        named, unnamed = ForeignLoad(own=[burner.pid]), ForeignLoad()
        time.sleep(0.8)
        own, foreign = named.cores()[0], unnamed.cores()[0]
    finally:
        burner.kill()
        burner.wait()
    assert reaped < 0.5 and own < 0.5 < foreign and stolen >= 0


def test_a_paused_timing_process_uses_no_cpu_and_answers_its_next_block(measured):
    from lprnet_opt.measure.timing import TimedProcess

    process = TimedProcess("eager", str(measured / "pruned.pt"), measured / "sample.npy", threads=2, warmup=2)
    try:
        assert len(process.block(5)) == 5
        process.pause()
        before = process.cpu_seconds()
        time.sleep(0.2)
        assert process.cpu_seconds() - before < 1e-3  # stopped: not one thread ran
        assert len(process.block(5)) == 5  # asking resumes it
        assert not process.paused
        process.pause()
        assert process.finish()["peak_rss_mb"] > 10  # finishing resumes it too
    finally:
        process.kill()


def test_processes_load_a_few_at_a_time_and_a_failed_load_stops_the_others(measured, tmp_path, monkeypatch):
    from lprnet_opt.measure.timing import start_loaded

    spec = {"runtime": "eager", "artifact": str(measured / "pruned.pt"), "sample": measured / "sample.npy",
            "threads": 1, "warmup": 1}
    loaded = start_loaded({"a": spec, "b": spec, "c": spec}, limit=2)
    try:
        assert list(loaded) == ["a", "b", "c"] and all(p.paused for p in loaded.values())
        assert all(len(p.block(3)) == 3 for p in loaded.values())
    finally:
        for process in loaded.values():
            process.kill()

    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    started = []
    import lprnet_opt.measure.timing as timing

    class Recorded(timing.TimedProcess):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(timing, "TimedProcess", Recorded)
    with pytest.raises(RuntimeError, match="broken.pt"):
        start_loaded({"good": spec, "bad": {**spec, "artifact": str(broken)}}, limit=2)
    assert len(started) == 2 and all(p.process.poll() is not None for p in started)  # none left running


def test_no_process_set_is_loaded_without_a_round_to_time(measured):
    artifacts = {v: (KINDS[r.kind].runtime, r.artifact)
                 for v, r in ((p.stem, read_record(p)) for p in (measured / "eval").glob("*.json"))}
    timing = timing_record(artifacts, measured / "sample.npy", quick_timing(process_sets=3, rounds=2, throughput_batch=0),
                           "baseline", "pruned_onnx")
    assert timing["round_process_set"] == [0, 1] and timing["process_sets"] == 2
    assert timing["variants"]["pruned_onnx"]["throughput_ratio_to_onnxruntime"] is None  # no throughput asked
