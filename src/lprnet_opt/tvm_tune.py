"""MetaSchedule tuning split into shards, resumable, with trials allocated by task FLOPs.

Tasks depend only on the architecture, input shape and target, never on weight values, so
they are extracted from a randomly initialised LPRNet and every variant shares one database.
Each shard keeps a persistent cache database; a rerun (a crash, or a raised budget) tunes
only the trials a task still lacks, seeded by the records already there.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from .model import LPRNet
from .tvm_compile import export_relax, fuse_for_tuning
from .tvm_setup import TVMSetupError, import_tvm, make_target, warm_up_tvm

log = logging.getLogger(__name__)


def extract_tasks(target_spec: dict) -> list:
    import_tvm()
    from tvm.s_tir import meta_schedule as ms

    target = make_target(target_spec)
    mod = fuse_for_tuning(export_relax(LPRNet()), target)
    return sorted(ms.relax_integration.extract_tasks(mod, target), key=lambda t: t.task_name)


def task_flops(task) -> float:
    from tvm.s_tir.analysis import estimate_tir_flops

    return float(estimate_tir_flops(task.dispatched[0])) * task.weight


def has_one_schedule(task) -> bool:
    """True when the task's design spaces make no random decisions: one candidate exists.

    Such tasks (transposes, slices, element-wise powers) need one trial, to put their
    schedule in the database; more would time the same candidate again.
    """
    from tvm.s_tir import meta_schedule as ms

    context = ms.TuneContext(mod=task.dispatched[0], target=task.target, space_generator="post-order-apply",
                             task_name=task.task_name)
    return all(len(space.trace.decisions) == 0 for space in context.generate_design_space())


def allocate_trials(flops: dict[str, float], total: int, min_per_task: int,
                    one_schedule: frozenset[str] = frozenset()) -> dict[str, int]:
    """Every task gets `min_per_task` trials (no naive schedules); the rest goes by FLOPs.

    A task in `one_schedule` gets one trial (none if `min_per_task` is 0) and no FLOPs share.
    """
    searched = {name: f for name, f in flops.items() if name not in one_schedule}
    base = {name: (min(1, min_per_task) if name in one_schedule else min_per_task) for name in flops}
    spare = max(0, total - sum(base.values()))
    weight = sum(searched.values()) or 1.0
    shares = {name: spare * f / weight for name, f in searched.items()}
    extra = {name: int(s) for name, s in shares.items()}
    # Hand out what rounding down left, largest remainders first.
    for name in sorted(shares, key=lambda n: shares[n] - extra[n], reverse=True)[: spare - sum(extra.values())]:
        extra[name] += 1
    return {name: base[name] + extra.get(name, 0) for name in flops}


def plan_shards(flops: dict[str, float], shards: int, one_schedule: frozenset[str] = frozenset()) -> dict[str, int]:
    """Assign tasks to shards with about equal expected tuning work, whatever the budget.

    A searched task's weight is half a uniform share and half its FLOPs share, which is
    roughly how trials are allocated; a one-schedule task (one trial) counts a tenth of a
    uniform share. No weight depends on the trial count, so raising the budget never moves
    a task to a shard whose cache lacks its records (it would start its search over).
    """
    total = sum(flops.values()) or 1.0
    uniform = 1.0 / len(flops)
    weight = {name: 0.1 * uniform if name in one_schedule else 0.5 * uniform + 0.5 * f / total
              for name, f in flops.items()}
    load = [0.0] * shards
    plan = {}
    for name in sorted(weight, key=lambda n: (-weight[n], n)):
        shard = load.index(min(load))
        plan[name] = shard
        load[shard] += weight[name]
    return plan


def write_tasks(target_spec: dict, path: str | Path) -> dict:
    """Extract the tuning tasks once: names, FLOPs and which have a single schedule."""
    tasks = extract_tasks(target_spec)
    record = {"target": target_spec, "tasks": {t.task_name: task_flops(t) for t in tasks},
              "one_schedule": sorted(t.task_name for t in tasks if has_one_schedule(t))}
    Path(path).write_text(json.dumps(record, indent=1) + "\n")
    return record


def plan_trials(tasks: dict, total_trials: int, min_per_task: int, shards: int) -> dict:
    """Trials per task and the shard that tunes it; the same inputs always give the same plan."""
    flops = tasks["tasks"]
    one_schedule = frozenset(tasks.get("one_schedule", ()))
    trials = allocate_trials(flops, total_trials, min_per_task, one_schedule)
    shard_of = plan_shards(flops, shards, one_schedule)
    return {
        "target": tasks["target"],
        "tasks": [{"name": n, "flops": flops[n], "trials": trials[n], "shard": shard_of[n]} for n in sorted(flops)],
    }


def repair_database(folder: Path) -> None:
    """Drop a last line cut short by a killed run, so the JSON database loads again."""
    for name in ("database_workload.json", "database_tuning_record.json"):
        path = folder / name
        if not path.exists():
            continue
        good = []
        for line in path.read_text().splitlines():
            try:
                json.loads(line)
                good.append(line)
            except json.JSONDecodeError:
                log.warning("%s: dropping a truncated record", path)
        path.write_text("".join(line + "\n" for line in good))


def records_for(database, task) -> int:
    mod = task.dispatched[0]
    if not database.has_workload(mod):
        return 0
    return len(database.get_top_k(database.commit_workload(mod), 10**6))


class CandidateBuilder:
    """MetaSchedule builds in long-lived worker processes, each candidate under a timeout.

    LocalBuilder starts a new pool of worker processes on every call, and each re-imports
    TVM: with a few trials per task that cost over a minute per task here, against about half
    a second per build. Building in this process avoided that, but one NHWC avg_pool candidate
    then kept LLVM busy for over six minutes and stalled the shard with no way out. So the
    workers are started once per shard, a candidate that builds for longer than `timeout_s`
    is a failed trial (its worker is killed and restarted), and each worker is replaced after
    `uses` builds, which bounds the memory the workers are known to leak.
    """

    def __init__(self, workers: int, timeout_s: float = 30.0, uses: int = 200) -> None:
        from tvm.support.popen_pool import PopenPoolExecutor

        self.timeout_s = timeout_s
        self.pool = PopenPoolExecutor(max_workers=workers, timeout=timeout_s, maximum_process_uses=uses)

    def builder(self):
        from tvm.ir.utils import derived_object
        from tvm.s_tir.meta_schedule.builder import BuilderResult, PyBuilder
        # MetaSchedule's own worker function: build with the default pipeline, export a .tar.
        from tvm.s_tir.meta_schedule.builder.local_builder import _worker_func
        from tvm.support.popen_pool import StatusKind

        pool, timeout_s = self.pool, self.timeout_s

        @derived_object
        class PooledBuilder(PyBuilder):
            def build(self, build_inputs):
                jobs = [(None, None, item.mod, item.target, None) for item in build_inputs]
                results = []
                for outcome in pool.map_with_error_catching(lambda job: _worker_func(*job), jobs):
                    if outcome.status == StatusKind.COMPLETE:
                        results.append(BuilderResult(outcome.value, None))
                    elif outcome.status == StatusKind.TIMEOUT:
                        results.append(BuilderResult(None, f"build timed out after {timeout_s:.0f} s"))
                    else:  # a bad candidate is a failed trial, not a failed job
                        results.append(BuilderResult(None, f"build failed: {outcome.value}"))
                return results

        return PooledBuilder()

    def close(self) -> None:
        self.pool.shutdown()


def tune_context(task, work_dir: str, population: int, seed: int):
    """One task's search: evolutionary, with a population sized for small budgets.

    MetaSchedule's default population of 512 spent most of a few-trial task's time
    sampling and mutating candidates; measured on the heaviest conv with 8 trials, a
    population of 64 took 23 s against 37 s and found a faster schedule.
    """
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.meta_schedule.logging import get_loggers_from_work_dir

    strategy = ms.search_strategy.EvolutionarySearch(population_size=population,
                                                     init_min_unmeasured=min(50, population))
    (logger,) = get_loggers_from_work_dir(work_dir, [task.task_name])
    return ms.TuneContext(mod=task.dispatched[0], target=task.target, space_generator="post-order-apply",
                          search_strategy=strategy, task_name=task.task_name, logger=logger,
                          rand_state=seed, num_threads="physical").clone()


def tune_shard(plan: dict, shard: int, cache: str | Path, out: str | Path, seed: int, population: int = 128) -> dict:
    """Bring every task of one shard up to its planned trial count, then snapshot the database."""
    # Candidates run in the runner's worker processes, which inherit TVM_NUM_THREADS; without
    # it TVM takes half the logical CPUs and would time 2-core schedules on 1 thread here.
    warm_up_tvm(plan["target"].get("num-cores"))
    from tvm.s_tir import meta_schedule as ms

    tasks = {t.task_name: t for t in extract_tasks(plan["target"])}
    mine = [entry for entry in plan["tasks"] if entry["shard"] == shard]
    missing = [e["name"] for e in mine if e["name"] not in tasks]
    if missing:
        raise TVMSetupError(f"task plan lists tasks this architecture does not have: {missing}")
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    repair_database(cache)
    database = ms.database.JSONDatabase(work_dir=str(cache))
    candidates = CandidateBuilder(workers=plan["target"].get("num-cores") or 1)
    builder = candidates.builder()
    runner = ms.runner.LocalRunner(evaluator_config=ms.runner.EvaluatorConfig(number=10, repeat=1, min_repeat_ms=0))
    summary, start = [], time.perf_counter()
    try:
        for i, entry in enumerate(mine, 1):
            task, before = tasks[entry["name"]], records_for(database, tasks[entry["name"]])
            need = entry["trials"] - before
            log.info("shard %d task %d/%d %s: %d records, %d planned, tuning %d",
                     shard, i, len(mine), entry["name"], before, entry["trials"], max(need, 0))
            if need > 0:
                context = tune_context(task, str(cache), population, seed)
                ms.tune.tune_tasks(tasks=[context], task_weights=[task.weight], work_dir=str(cache), max_trials_global=need,
                                   num_trials_per_iter=min(need, 16), builder=builder, runner=runner, database=database)
                log.disabled = False  # MetaSchedule's logging set-up disables existing loggers
            summary.append({"task": entry["name"], "planned": entry["trials"], "records_before": before,
                            "records_after": records_for(database, task)})
    finally:
        candidates.close()
    snapshot(cache, out)
    return {"shard": shard, "seconds": round(time.perf_counter() - start, 1), "tasks": summary}


def snapshot(cache: Path, out: str | Path) -> None:
    """Copy the database JSON files (the tuning logs) into a job's declared output folder."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("database_workload.json", "database_tuning_record.json"):
        source = Path(cache) / name
        if source.exists():
            shutil.copyfile(source, out / name)
        else:
            (out / name).write_text("")


def merge_databases(shard_dirs: list[str | Path], out: str | Path) -> int:
    """One JSON database holding every shard's records; returns the record count."""
    import_tvm()
    from tvm.s_tir import meta_schedule as ms

    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    merged = ms.database.JSONDatabase(work_dir=str(out))
    count = 0
    for folder in shard_dirs:
        shard = ms.database.JSONDatabase(work_dir=str(folder), allow_missing=False)
        for record in shard.get_all_tuning_records():
            workload = merged.commit_workload(record.workload.mod)
            merged.commit_tuning_record(ms.database.TuningRecord(
                record.trace, workload, record.run_secs, record.target, record.args_info))
            count += 1
    return count


def open_database(folder: str | Path):
    import_tvm()
    from tvm.s_tir import meta_schedule as ms

    return ms.database.JSONDatabase(work_dir=str(folder), allow_missing=False)
