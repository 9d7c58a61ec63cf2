"""TVM: the version guard, target errors, trial allocation, and resumable tuning that only adds records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lprnet_opt import tvm_setup
from conftest import REPO
from lprnet_opt.geometry import BATCH1_SHAPE
from lprnet_opt.tvm.database import merge_databases
from lprnet_opt.tvm.plan import allocate_trials, plan_trials
from lprnet_opt.tvm_setup import TVMSetupError, host_target, make_target
from lprnet_opt.tvm.tune import tune_shard, write_tasks


def test_wrong_ffi_version_is_refused(monkeypatch):
    monkeypatch.setattr(tvm_setup.metadata, "version", lambda name: "0.1.15")
    with pytest.raises(TVMSetupError, match=r"apache-tvm-ffi 0\.1\.15 is installed.*==0\.1\.14\.post1"):
        tvm_setup.import_tvm()


@pytest.mark.parametrize("spec", ["llvm", {"mcpu": "znver3"}, {"kind": "llvm", "mcpu": "no-such-cpu"},
                                  {"kind": "no-such-kind"}])
def test_invalid_target_names_the_config_key(spec):
    with pytest.raises(TVMSetupError, match="config key tvm.target"):
        make_target(spec)


def test_a_cpu_is_checked_against_the_targets_own_architecture():
    arm = make_target({"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a76"})
    assert arm.attrs["mcpu"] == "cortex-a76" and bool(arm.attrs["feature.is_aarch64"])
    with pytest.raises(TVMSetupError, match="'cortex-a76' for x86_64"):
        make_target({"kind": "llvm", "mcpu": "cortex-a76"})  # no mtriple: this x86_64 host
    with pytest.raises(TVMSetupError, match="'znver4' for aarch64"):
        make_target({"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "znver4"})


def test_a_target_of_another_architecture_is_refused_before_tuning():
    from lprnet_opt.tvm_setup import resolve_target

    with pytest.raises(TVMSetupError, match="config key tvm.target: builds for aarch64"):
        resolve_target({"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a76"}, 2)
    assert resolve_target({"kind": "llvm", "mcpu": "znver3"}, 2)["mcpu"] == "znver3"


def test_trials_follow_flops_and_no_task_is_starved():
    flops = {"conv_big": 50e6, "conv_mid": 20e6, "conv_small": 5e6, "pool": 1e5, "add": 1e3}
    trials = allocate_trials(flops, 100, 4)
    assert sum(trials.values()) == 100
    assert min(trials.values()) >= 4
    assert trials["conv_big"] > trials["conv_mid"] > trials["conv_small"] > trials["pool"]
    assert trials["pool"] == trials["add"] == 4  # the spare trials went to real work


def test_shards_get_about_equal_trials_and_keep_their_tasks_when_the_budget_rises():
    flops = {"conv_a": 50e6, "conv_b": 40e6, "conv_c": 20e6, "conv_d": 8e6, "pool": 1e6,
             **{f"tiny{i}": 1e3 for i in range(8)}}
    small, large = (plan_trials({"target": {}, "widths": "w", "tasks": flops}, total, 6, 2) for total in (512, 4096))
    assert [t["shard"] for t in small["tasks"]] == [t["shard"] for t in large["tasks"]]
    for plan in (small, large):
        loads = [sum(t["trials"] for t in plan["tasks"] if t["shard"] == s) for s in (0, 1)]
        assert abs(loads[0] - loads[1]) <= 0.15 * sum(loads), loads


def test_one_schedule_tasks_get_one_trial_and_no_flops_share():
    flops = {"conv_big": 50e6, "conv_small": 5e6, "pool": 1e5, "transpose": 1e3, "power": 1e3}
    one = frozenset({"transpose", "power"})
    trials = allocate_trials(flops, 100, 6, one)
    assert trials["transpose"] == trials["power"] == 1
    assert sum(trials.values()) == 100 and trials["pool"] == 6
    assert trials["conv_big"] > trials["conv_small"] > 6
    assert allocate_trials(flops, 2, 0, one)["transpose"] == 0  # a budget below the floor is kept


def test_every_conv_is_exported_nhwc_with_output_channels_innermost_in_the_weights():
    """The vectorised axis (output channels) must be the contiguous one in data and weights."""
    from tvm import relax

    from lprnet_opt.model import LPRNet
    from lprnet_opt.tvm.graph import export_relax

    convs = []
    relax.analysis.post_order_visit(export_relax(LPRNet())["main"], lambda e: convs.append(e)
                                    if isinstance(e, relax.Call) and getattr(e.op, "name", "") == "relax.nn.conv2d"
                                    else None)
    assert len(convs) == 16  # 13 distinct shapes; the small basic blocks repeat three
    for conv in convs:
        assert (conv.attrs.data_layout, conv.attrs.kernel_layout, conv.attrs.out_layout) == ("NHWC", "HWIO", "NHWC")
        # whole 16-float vectors: the 68 class channels are padded to 80 (export_rewrites.pad_classes)
        assert int(conv.ty.shape[-1]) % 16 == 0


@pytest.fixture(scope="module")
def task_record(tmp_path_factory) -> dict:
    return write_tasks(None, 2, tmp_path_factory.mktemp("tasks") / "tasks.json")


def test_task_list_is_nhwc_and_finds_the_tasks_with_one_schedule(task_record):
    one = set(task_record["one_schedule"])
    assert {"transpose", "strided_slice"} <= one  # the NHWC input transpose and a channel slice
    assert not any(name.startswith(("fused_conv2d", "max_pool2d")) for name in one)
    # only the input and the output are transposed at run time; weight layouts fold into constants
    assert len([n for n in task_record["tasks"] if n.startswith(("transpose", "layout_transform"))]) == 2
    # The tuning curve's inputs: 36 kernel calls per inference over 33 tasks, each filed under its own hash.
    assert sum(task_record["calls"].values()) == 36 and len(set(task_record["workloads"].values())) == 33


@pytest.fixture(scope="module")
def small_plan(task_record) -> dict:
    """The two cheapest convolutions of the real task list, one per shard."""
    record = task_record
    convs = sorted((f, n) for n, f in record["tasks"].items() if n.startswith("fused_conv2d"))[:2]
    entries = [{"name": n, "flops": f, "trials": 2, "shard": i} for i, (f, n) in enumerate(convs)]
    return {"target": record["target"], "widths": record["widths"], "tasks": entries}


def with_trials(plan: dict, trials: int) -> dict:
    return {**plan, "tasks": [{**e, "trials": trials} for e in plan["tasks"]]}


def records(folder: Path) -> list[str]:
    path = folder / "database_tuning_record.json"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.slow
def test_raised_budget_continues_from_the_database_and_keeps_every_record(small_plan, tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    first = tune_shard(with_trials(small_plan, 2), 0, cache, out / "a", seed=0, population=16)
    before = records(cache)
    assert [t["records_after"] for t in first["tasks"]] == [2]

    again = tune_shard(with_trials(small_plan, 2), 0, cache, out / "b", seed=0, population=16)
    assert records(cache) == before  # nothing left to do: nothing tuned, nothing lost

    raised = tune_shard(with_trials(small_plan, 4), 0, cache, out / "c", seed=0, population=16)
    after = records(cache)
    assert again["tasks"][0]["records_before"] == 2 and raised["tasks"][0]["records_after"] == 4
    assert raised["cost_model"] == "per_task" and "cost_model_fed" not in raised["tasks"][0]  # the default
    assert after[: len(before)] == before and len(after) == 4  # only grows
    assert records(out / "c") == after  # the job's output is a snapshot of the cache


@pytest.mark.slow
def test_one_cost_model_serves_the_shard_and_has_data_before_the_second_task(small_plan, tmp_path):
    """tvm.cost_model: shared. The model the second task's search starts with has trained on the
    first task's measurements (MetaSchedule's model per task had none), and a resumed shard's
    model starts from the records already in the database."""
    plan = {**small_plan, "tasks": [{**e, "trials": 3, "shard": 0} for e in small_plan["tasks"]]}
    summary = tune_shard(plan, 0, tmp_path / "cache", tmp_path / "out", seed=0, population=16, cost_model="shared")
    first, second = summary["tasks"]
    assert summary["cost_model"] == "shared"
    assert first["cost_model_fed"] == 0 and first["cost_model_samples"] == 0
    assert second["cost_model_fed"] == 0 and second["cost_model_samples"] >= 3
    raised = tune_shard(with_trials(plan, 4), 0, tmp_path / "cache", tmp_path / "out2", seed=0, population=16,
                        cost_model="shared")
    assert raised["tasks"][0]["cost_model_fed"] == 3 and raised["tasks"][0]["searched"] == 1
    with pytest.raises(ValueError, match="config key tvm.cost_model"):
        tune_shard(plan, 0, tmp_path / "cache", tmp_path / "out3", seed=0, cost_model="sharde")


def test_the_early_cost_model_is_new_per_task_and_steers_after_one_batch():
    from lprnet_opt.tvm.tune import EARLY_WARMUP, shard_cost_model, task_cost_model

    assert shard_cost_model("per_task_early", 2) is None  # nothing shared between tasks
    first, second = (task_cost_model("per_task_early", None, 2) for _ in range(2))
    assert first is not second and first.num_warmup_samples == EARLY_WARMUP == 16  # MetaSchedule's: 100
    assert task_cost_model("per_task", None, 2) == "xgb"  # MetaSchedule's own, made inside tune_tasks


@pytest.mark.slow
def test_the_early_cost_model_learns_from_its_own_task_only(small_plan, tmp_path):
    """tvm.cost_model: per_task_early. Unlike the shared model, the second task's model starts
    empty; a resumed shard feeds each task's model that task's 3 records, not the shard's 6."""
    plan = {**small_plan, "tasks": [{**e, "trials": 3, "shard": 0} for e in small_plan["tasks"]]}
    summary = tune_shard(plan, 0, tmp_path / "cache", tmp_path / "out", seed=0, population=16,
                         cost_model="per_task_early")
    assert summary["cost_model"] == "per_task_early"
    assert [(t["cost_model_fed"], t["cost_model_samples"]) for t in summary["tasks"]] == [(0, 0), (0, 0)]
    raised = tune_shard(with_trials(plan, 4), 0, tmp_path / "cache", tmp_path / "out2", seed=0, population=16,
                        cost_model="per_task_early")
    assert [(t["cost_model_fed"], t["cost_model_samples"], t["searched"]) for t in raised["tasks"]] == [(3, 3, 1)] * 2


@pytest.mark.slow
def test_tuning_curve_reads_each_task_in_trial_order(small_plan, task_record, tmp_path):
    from lprnet_opt.tvm.curve import task_run_times, tuning_curve

    tune_shard(with_trials(small_plan, 3), 0, tmp_path / "cache", tmp_path / "out", seed=0, population=16)
    times = task_run_times([tmp_path / "out"], task_record["workloads"])
    name = small_plan["tasks"][0]["name"]
    assert len(times[name]) == 3 and all(len(t) == 0 for n, t in times.items() if n != name)
    assert tuning_curve(times, task_record["calls"]) == []  # untuned tasks: no whole-model estimate
    mine = {name: times[name]}
    curve = tuning_curve(mine, task_record["calls"], points=3)
    assert [p["trials"] for p in curve] == [1, 2, 3]
    estimates = [p["estimated_ms"] for p in curve]
    assert estimates == sorted(estimates, reverse=True)  # the best so far only improves
    assert estimates[-1] == pytest.approx(task_record["calls"][name] * min(times[name]) * 1e3)


@pytest.mark.slow
def test_killed_shard_reruns_from_its_truncated_database(small_plan, tmp_path):
    cache = tmp_path / "cache"
    tune_shard(with_trials(small_plan, 2), 1, cache, tmp_path / "a", seed=0, population=16)
    path = cache / "database_tuning_record.json"
    kept = records(cache)[0]
    path.write_text(kept + "\n" + records(cache)[1][:40])  # killed while writing the second record
    rerun = tune_shard(with_trials(small_plan, 2), 1, cache, tmp_path / "b", seed=0, population=16)
    assert rerun["tasks"][0]["records_before"] == 1 and rerun["tasks"][0]["records_after"] == 2
    assert records(cache)[0] == kept
    assert all(json.loads(line) for line in records(cache))

    merged = merge_databases([tmp_path / "b"], tmp_path / "merged")
    assert merged == 2 and len(records(tmp_path / "merged")) == 2


def test_seed_class_is_the_most_capable_one_not_above_the_target():
    from lprnet_opt.tvm.seed import pick_class

    assert pick_class(["avx2", "avx512_vnni"], "amx") == "avx512_vnni"
    assert pick_class(["avx2", "avx512_vnni"], "avx512_vnni") == "avx512_vnni"
    assert pick_class(["avx2", "avx512_vnni"], "avx512") == "avx2"  # no wider vectors than the target has
    assert pick_class(["avx512_vnni"], "avx2") is None
    assert pick_class([], "amx") is None


def test_target_class_comes_from_the_target_not_the_host():
    from lprnet_opt.tvm.seed import target_isa

    assert target_isa({"kind": "llvm", "mcpu": "znver3", "num-cores": 2}) == "avx2"
    assert target_isa({"kind": "llvm", "mcpu": "znver4", "num-cores": 2}) == "avx512_vnni"
    assert target_isa({"kind": "llvm", "mcpu": "emeraldrapids", "num-cores": 2}) == "amx"



def test_shipped_seeds_are_chosen_by_llvm_target_never_across_architectures():
    """Seeds are keyed by the LLVM target: an Arm core gets no x86 seed, an x86 level its class's."""
    from lprnet_opt.chars import NUM_CLASSES
    from lprnet_opt.targets import tvm_target
    from lprnet_opt.tvm.seed import choose_seed, seed_class
    from lprnet_opt.tvm_setup import graph_key

    seeds = sorted(str(p) for p in (REPO / "data/tvm_seed").rglob("*") if p.is_file())

    def chosen(target: dict):
        spec = tvm_target(target, 2)
        return choose_seed("auto", seeds, {"target": spec, "graph": graph_key(NUM_CLASSES), "widths": "dense"})

    assert seed_class(tvm_target({"arch": "aarch64", "cpu": "cortex-a76"}, 2)) == ("aarch64", "cortex-a76")
    folder, why = chosen({"arch": "aarch64", "cpu": "cortex-a76"})
    assert folder is None and "aarch64/cortex-a76 target" in why and "x86_64/avx2" in why, why
    folder, why = chosen({"arch": "x86_64", "cpu": "x86-64-v3"})  # AVX2: the avx2 seed, never the AVX-512 one
    assert folder == REPO / "data/tvm_seed/avx2", why

def seed_from_shard(plan: dict, task_record: dict, shard: int, tmp_path: Path) -> dict:
    """A real seed, `tmp_path/seeds/here`, written from a 3-trial tuning of one shard of `plan`
    (its best record per task); returns its provenance."""
    from lprnet_opt.atomic import write_json
    from lprnet_opt.tvm.seed import write_seed

    tasks_json = tmp_path / "tasks.json"
    write_json(task_record, tasks_json)
    tune_shard(with_trials(plan, 3), shard, tmp_path / "full_cache", tmp_path / "full", seed=0, population=16)
    return write_seed([tmp_path / "full"], tasks_json, trials=3, out=tmp_path / "seeds" / "here", per_task=1)


@pytest.mark.slow
def test_seed_traces_are_replayed_and_timed_here_then_the_search_tunes_the_rest(small_plan, task_record, tmp_path):
    from lprnet_opt.atomic import write_json
    from lprnet_opt.tvm.curve import schedule_origin
    from lprnet_opt.tvm.seed import choose_seed

    made = seed_from_shard(small_plan, task_record, 0, tmp_path)
    name = small_plan["tasks"][0]["name"]
    assert list(made["tasks"]) == [name] and made["graph"] == task_record["graph"] and made["trials"] == 3

    seed_files = sorted((tmp_path / "seeds").rglob("*"))
    folder, why = choose_seed("auto", seed_files, task_record)
    assert folder == tmp_path / "seeds" / "here", why
    assert choose_seed("off", seed_files, task_record)[0] is None
    other = {**task_record, "graph": "lprnet68_other_widths"}
    none, why = choose_seed("auto", seed_files, other)
    assert none is None and "lprnet68_other_widths" in why

    cache = tmp_path / "cache"
    warm = tune_shard(with_trials(small_plan, 2), 0, cache, tmp_path / "warm", seed=0, population=16,
                      warm_start=folder, seed_traces=1)
    row = warm["tasks"][0]
    assert row["records_before"] == 0 and row["searched"] == 1 and row["records_after"] == 2
    [replayed] = row["seed_replayed"]
    assert replayed["local_ms"] is not None and replayed["seed_ms"] == made["tasks"][name]
    first = json.loads(records(cache)[0])[1]
    seed_best = sorted((json.loads(line)[1] for line in records(tmp_path / "full")), key=lambda r: sum(r[1]))[0]
    assert first[0] == seed_best[0]  # the seed's best trace, committed first ...
    assert first[1] != seed_best[1]  # ... with the run time measured here, not the seed's
    assert warm["seed"]["trials"] == 3 and warm["seed"]["folder"] == str(folder)

    again = tune_shard(with_trials(small_plan, 2), 0, cache, tmp_path / "again", seed=0, population=16,
                       warm_start=folder, seed_traces=1)
    assert len(records(cache)) == 2 and again["tasks"][0]["searched"] == 0  # replayed once per seed
    write_json({**warm, "warm_start": why}, tmp_path / "warm" / "summary.json")
    origin = schedule_origin([tmp_path / "warm"])
    assert (origin["records"], origin["replayed"], origin["searched"]) == (2, 1, 1)


PRUNED = "w64-32-16-32-128-64-48-48-48-256-48-48-48-256-64-256"  # the default run's channel_pruned widths


def test_tiles_are_fitted_to_a_new_extent_two_ways():
    from lprnet_opt.tvm.transfer import FITS, factorisations, nearest_tiles, shape_distance

    assert sorted(factorisations(12, 2)) == [(1, 12), (2, 6), (3, 4), (4, 3), (6, 2), (12, 1)]
    assert nearest_tiles([2, 1, 1, 16], 48) == [3, 1, 1, 16]  # the vector tile kept: it divides
    assert nearest_tiles([1, 1, 1, 64], 48) == [1, 1, 1, 48]  # it does not: the nearest split
    # one AVX-512 vector kept; the factor it gives up goes to its neighbour (ties: the inner one)
    assert FITS["common_divisor"]([1, 1, 1, 64], 48) == [1, 1, 3, 16]
    assert FITS["nearest"]([6, 1, 1, 3], 18) == [6, 1, 1, 3]
    conv = [("float32", (1, 18, 44, 64)), ("float32", (1, 1, 64, 64))]
    slim = [("float32", (1, 18, 44, 48)), ("float32", (1, 1, 64, 48))]
    assert 0 < shape_distance(conv, slim) < shape_distance(conv, [("float32", (1, 18, 44, 16)), conv[1]])
    assert shape_distance(conv, conv[:1]) == shape_distance(conv, [conv[0], ("float16", (1, 1, 64, 64))]) == float("inf")


@pytest.mark.slow
def test_a_channel_pruned_graph_replays_the_full_graphs_seed_fitted_to_its_shapes(small_plan, task_record, tmp_path):
    from lprnet_opt.model import Widths
    from lprnet_opt.tvm.seed import choose_seed
    from lprnet_opt.tvm.transfer import shape_distance, tensor_shapes
    from lprnet_opt.tvm.tune import extract_tasks

    made = seed_from_shard(small_plan, task_record, 1, tmp_path)
    [source] = made["tasks"]  # the 1x1 conv at 64 channels, which the pruned graph has at 48

    pruned = write_tasks(None, 2, tmp_path / "pruned_tasks.json", Widths.from_key(PRUNED))
    assert pruned["graph"] == f"{task_record['graph']}_{PRUNED}"
    folder, why = choose_seed("auto", sorted((tmp_path / "seeds").rglob("*")), pruned)
    assert folder == tmp_path / "seeds" / "here" and "transferred" in why, why
    other = {**pruned, "graph": f"lprnet99_other_{PRUNED}"}  # another architecture: no seed
    assert choose_seed("auto", sorted((tmp_path / "seeds").rglob("*")), other)[0] is None

    # the same conv in the pruned graph: the task nearest to the seed's, at other shapes
    seed_shapes = tensor_shapes(next(t for t in extract_tasks(task_record["target"]) if t.task_name == source).dispatched[0])
    distance, target = min((shape_distance(tensor_shapes(t.dispatched[0]), seed_shapes), t.task_name)
                           for t in extract_tasks(pruned["target"], Widths.from_key(PRUNED)))
    assert distance > 0 and pruned["workloads"][target] not in task_record["workloads"].values()
    plan = {"target": pruned["target"], "widths": PRUNED,
            "tasks": [{"name": target, "flops": pruned["tasks"][target], "trials": 3, "shard": 0}]}
    warm = tune_shard(plan, 0, tmp_path / "cache", tmp_path / "warm", seed=0, population=16, warm_start=folder,
                      seed_traces=1)
    [row] = warm["tasks"]
    replays = row["seed_replayed"]
    assert replays and all(r["transferred_from"] == source for r in replays)
    timed = [r for r in replays if r["local_ms"] is not None]
    assert timed and row["records_after"] == 3 and row["searched"] == 3 - len(replays)
    committed = [json.loads(line)[1] for line in records(tmp_path / "cache")]
    assert len(committed) == 3 and all(r[1] for r in committed)  # local run times, then the search


def _tiny_build_input():
    from tvm import te
    from tvm.s_tir.meta_schedule.builder import BuilderInput

    a = te.placeholder((64,), name="a")
    b = te.compute((64,), lambda i: a[i] * 2.0, name="b")
    mod = tvm_setup.import_tvm().IRModule({"main": te.create_prim_func([a, b])})
    return BuilderInput(mod, make_target(host_target(2)))


def test_candidate_builder_builds_and_turns_a_slow_build_into_a_failed_trial():
    from lprnet_opt.tvm.tune import CandidateBuilder

    patient = CandidateBuilder(workers=1, timeout_s=60)
    try:
        (ok,) = patient.builder().build([_tiny_build_input()])
    finally:
        patient.close()
    assert ok.error_msg is None and Path(ok.artifact_path).exists()

    hasty = CandidateBuilder(workers=1, timeout_s=0.001)  # no build finishes this fast
    try:
        (late,) = hasty.builder().build([_tiny_build_input()])
    finally:
        hasty.close()
    assert late.artifact_path is None and "timed out" in late.error_msg


def test_kernel_profile_times_every_kernel_the_graph_calls(tmp_path):
    """`bench --kernels` accounts for every call: 33 kernels, 36 calls (three convs repeat)."""
    from tvm.s_tir import meta_schedule as ms

    from lprnet_opt.tvm.profile import kernel_times

    ms.database.JSONDatabase(work_dir=str(tmp_path), allow_missing=True)  # empty: default schedules
    rows = kernel_times(host_target(2), tmp_path, number=1, repeat=1, rounds=3)
    assert len(rows) == 33 and sum(r["calls"] for r in rows) == 36
    assert all(r["ms_per_call"] > 0 and r["ms_per_inference"] == pytest.approx(r["ms_per_call"] * r["calls"], rel=1e-3)
               for r in rows)
    assert all(r["gflops"] > 0 for r in rows if r["kernel"].startswith("fused_conv2d"))
    assert [r["ms_per_inference"] for r in rows] == sorted((r["ms_per_inference"] for r in rows), reverse=True)
    assert all(r["ms_in_sequence"] > 0 for r in rows)


def test_kernels_called_in_graph_order_compute_the_model(tmp_path):
    """The in-sequence timing runs the real graph: its last kernel's output is the model's logits."""
    from tvm.s_tir import meta_schedule as ms

    from lprnet_opt.model import LPRNet
    from lprnet_opt.tvm.profile import build_kernel, graph_calls, run_in_sequence, tuned_graph

    ms.database.JSONDatabase(work_dir=str(tmp_path), allow_missing=True)
    torch.manual_seed(0)
    model = LPRNet().eval()
    mod, target = tuned_graph(host_target(2), tmp_path, model)
    kernels = {name: build_kernel(mod[name], target)["main"] for name in {name for name, _, _ in graph_calls(mod)}}
    image = np.random.default_rng(0).uniform(-1, 1, BATCH1_SHAPE).astype("float32")
    nanoseconds, logits = run_in_sequence(mod, kernels, image, rounds=2)
    assert len(nanoseconds) == 36 and all(len(times) == 2 for times in nanoseconds)
    with torch.no_grad():
        expected = model(torch.from_numpy(image)).numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)


def test_tuning_context_ignores_handlers_that_others_put_on_metaschedule_logger(tmp_path):
    """pytest's log capture leaves unnamed handlers on MetaSchedule's logger; MetaSchedule's own
    logger set-up then failed ("'NoneType' object has no attribute 'format'")."""
    import logging

    from lprnet_opt.tvm.tune import extract_tasks, tune_context

    task = min(extract_tasks(host_target(2)), key=lambda t: t.task_name)
    metaschedule = logging.getLogger("tvm.s_tir.meta_schedule")
    unnamed = logging.Handler()
    metaschedule.addHandler(unnamed)
    try:
        for seed in (0, 1):  # the failure came on the second set-up in one process
            tune_context(task, str(tmp_path), population=4, seed=seed)
    finally:
        metaschedule.removeHandler(unnamed)
    assert (tmp_path / "logs" / f"{task.task_name}.log").exists()
    assert not logging.getLogger("lprnet_opt").disabled


def test_warm_up_registers_the_cpu_tensor_intrinsics_without_the_cuda_ones():
    """What MetaSchedule's CPU rules look up is registered; the CUDA half is skipped, and a
    later explicit import of it still works."""
    code = (
        "import sys\n"
        "from lprnet_opt.tvm_setup import warm_up_tvm\n"
        "warm_up_tvm(1)\n"
        "from tvm.s_tir import TensorIntrin\n"
        "TensorIntrin.get('dot_16x4_vnni'); TensorIntrin.get('dot_16x4_avx512')\n"
        "assert 'tvm.s_tir.tensor_intrin.cuda' not in sys.modules\n"
        "import tvm.s_tir.tensor_intrin\n"  # what MetaSchedule does: the registered package
        "assert 'tvm.s_tir.tensor_intrin.cuda' not in sys.modules\n"
        "import tvm.s_tir.tensor_intrin.cuda\n"
        "TensorIntrin.get('mma_ldmatrix_f16_a')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
