"""MetaSchedule tuning split into shards, resumable.

Tasks depend only on the architecture (with its widths), input shape and target, never on
weight values, so they are extracted from a randomly initialised LPRNet of those widths and
every variant of those widths shares one database.
Each shard keeps a persistent cache database; a rerun (a crash, or a raised budget) tunes
only the trials a task still lacks, seeded by the records already there.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..atomic import read_json, write_json
from ..chars import NUM_CLASSES
from ..model import DENSE, LPRNet, Widths
from .database import records_for, repair_database, snapshot
from .graph import export_relax, fuse_for_tuning
from .plan import plan_trials
from .seed import Seed, choose_seed, replay
from .transfer import transfer
from ..tvm_setup import TVMSetupError, cache_folder, graph_key, import_tvm, make_target, resolve_target, warm_up_tvm

log = logging.getLogger(__name__)


def extract_tasks(target_spec: dict, widths: Widths = DENSE) -> list:
    import_tvm()
    from tvm.s_tir import meta_schedule as ms

    target = make_target(target_spec)
    mod = fuse_for_tuning(export_relax(LPRNet(widths=widths)), target)
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


def write_tasks(target_spec: dict | None, threads: int, path: str | Path, widths: Widths = DENSE,
                on_device: bool = False) -> dict:
    """Resolve the target on this node and extract the tuning tasks of LPRNet at `widths` once.

    The record holds the resolved target, so later jobs (shards, compiles) read it from here
    instead of resolving it again wherever they run; `from_host` says it was this node's CPU.
    `graph` names the architecture, the persistent databases' folder (setup.cache_folder).
    `on_device`: candidates are timed on the target's device (cross/rpc.py), so the target may
    be of any architecture.
    """
    target = dict(target_spec) if on_device else resolve_target(target_spec, threads)
    tasks = extract_tasks(target, widths)
    # has_one_schedule makes tuning contexts; the first imports the tensor intrinsics, which
    # took 88 s of a 102 s job without this and 7 s with it (AMD EPYC).
    warm_up_tvm()
    from tvm.s_tir.meta_schedule.database import Workload
    record = {"target": target, "from_host": target_spec is None,
              "graph": graph_key(NUM_CLASSES, "" if widths.dense else widths.key()), "widths": widths.key(),
              "tasks": {t.task_name: task_flops(t) for t in tasks},
              "one_schedule": sorted(t.task_name for t in tasks if has_one_schedule(t)),
              # For the tuning curve (tvm.database.tuning_curve): calls per inference, and the
              # structural hash under which the JSON database files each task's records.
              "calls": {t.task_name: int(t.weight) for t in tasks},
              "workloads": {t.task_name: Workload(t.dispatched[0]).as_json()[0] for t in tasks}}
    write_json(record, path)
    return record


class CandidateBuilder:
    """MetaSchedule builds in long-lived worker processes, each candidate under a timeout.

    LocalBuilder starts a new pool of worker processes on every call, and each re-imports
    TVM: with a few trials per task that cost over a minute per task here, against about half
    a second per build. Building in this process avoided that, but one NHWC avg_pool candidate
    then kept LLVM busy for over six minutes and stalled the shard with no way out. So the
    workers are started once per shard, a candidate that builds for longer than `timeout_s`
    is a failed trial (its worker is killed and restarted), and each worker is replaced after
    `uses` builds, which bounds the memory the workers are known to leak.

    Every new worker first imports TVM's tensor intrinsics (`warm_up_tvm`, as an initializer,
    which the pool runs outside the build timeout). A worker's first build otherwise did that
    import inside the timeout: measured 42 s here on a busy machine, so the build timed out,
    its replacement timed out the same way, and a whole shard tuned nothing (every trial
    "build timed out after 30 s").
    """

    def __init__(self, workers: int, timeout_s: float = 30.0, uses: int = 200, export=None) -> None:
        from tvm.support.popen_pool import PopenPoolExecutor

        # How a built candidate is written for its runner: MetaSchedule's .tar by default (linked
        # where it runs); a module-level function (pickled to the workers) for a device's .so.
        self.export = export
        self.timeout_s = timeout_s
        self.pool = PopenPoolExecutor(max_workers=workers, timeout=timeout_s, maximum_process_uses=uses,
                                      initializer=warm_up_tvm)

    def builder(self):
        from tvm.ir.utils import derived_object
        from tvm.s_tir.meta_schedule.builder import BuilderResult, PyBuilder
        # MetaSchedule's own worker function: build with the default pipeline, export a .tar.
        from tvm.s_tir.meta_schedule.builder.local_builder import _worker_func
        from tvm.support.popen_pool import StatusKind

        pool, timeout_s, export = self.pool, self.timeout_s, self.export

        @derived_object
        class PooledBuilder(PyBuilder):
            def build(self, build_inputs):
                jobs = [(None, export, item.mod, item.target, None) for item in build_inputs]
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


def task_logger(work_dir: str | Path, task_name: str) -> logging.Logger:
    """A logger of our own for one task's search, writing to `work_dir/logs/<task>.log`.

    MetaSchedule's `get_loggers_from_work_dir` re-runs `logging.config.dictConfig` and lists
    the names of every handler already on its logger; an unnamed handler that other code
    attached there (pytest's log capture does) made it fail with "'NoneType' object has no
    attribute 'format'", and the dictConfig also disabled this package's loggers.
    """
    logger = logging.getLogger(f"lprnet_opt.tvm.search.{task_name}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # the per-iteration tables go to the task's file, not the job log
    path = Path(work_dir) / "logs" / f"{task_name}.log"
    if not any(getattr(h, "baseFilename", None) == str(path.resolve()) for h in logger.handlers):
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(message)s"))
        logger.addHandler(handler)
    return logger


def tune_context(task, work_dir: str, population: int, seed: int):
    """One task's search: evolutionary, with a population sized for small budgets.

    MetaSchedule's default population of 512 spent most of a few-trial task's time
    sampling and mutating candidates; measured on the heaviest conv with 8 trials, a
    population of 64 took 23 s against 37 s and found a faster schedule.
    """
    from tvm.s_tir import meta_schedule as ms

    strategy = ms.search_strategy.EvolutionarySearch(population_size=population,
                                                     init_min_unmeasured=min(50, population))
    return ms.TuneContext(mod=task.dispatched[0], target=task.target, space_generator="post-order-apply",
                          search_strategy=strategy, task_name=task.task_name,
                          logger=task_logger(work_dir, task.task_name),
                          rand_state=seed, num_threads="physical").clone()


def evaluator_config():
    """How each candidate is timed, here or on a device: ten calls, one repeat."""
    from tvm.s_tir import meta_schedule as ms

    return ms.runner.EvaluatorConfig(number=10, repeat=1, min_repeat_ms=0)


COST_MODELS = ("per_task", "per_task_early", "shared")
CANDIDATES_PER_BATCH = 16  # candidates built and timed per search iteration
# One batch: the early model steers from the second.
EARLY_WARMUP = CANDIDATES_PER_BATCH


def early_model(cores: int | None):
    from tvm.s_tir.meta_schedule.cost_model import XGBModel

    return XGBModel(num_warmup_samples=EARLY_WARMUP, num_tuning_cores=cores, verbose_eval=0)


def shard_cost_model(setting: str, cores: int | None):
    """The model every search of a shard shares (config key tvm.cost_model: shared), else None.

    MetaSchedule's default ("per_task": `tune_tasks` makes a new XGBModel per call) predicts
    uniform noise until it has 100 measurements, so at 6-70 trials a task every search was
    random. "per_task_early" is a new model per task that steers after one batch, fed the task's
    database records first (feed_records); "shared" is one such model for the whole shard, trained
    on every task's measurements (labels are normalised per workload, so tasks mix soundly). At
    512 trials from scratch neither beat the default beyond the search seed's spread: early 0.977x
    its latency over five seeds (paired t = -0.8), shared won one pair of three (docs/tvm-cost-model.md).
    So per_task stays the default and the others are options.
    """
    if setting not in COST_MODELS:
        raise ValueError(f"config key tvm.cost_model: {setting!r} is not one of {COST_MODELS}")
    return early_model(cores) if setting == "shared" else None


def task_cost_model(setting: str, shard_model, cores: int | None):
    """The model one task's search uses: MetaSchedule's ("xgb"), a fresh early one, or the shard's."""
    if setting == "per_task":
        return "xgb"
    return shard_model if setting == "shared" else early_model(cores)


def feed_records(model, context, database, task) -> int:
    """Train `model` on the records the database holds for `task` (seed replays, a killed or
    smaller earlier run), so a resumed search does not start from an empty model; returns how many."""
    from tvm.s_tir import Schedule
    from tvm.s_tir.meta_schedule.runner import RunnerResult
    from tvm.s_tir.meta_schedule.search_strategy import MeasureCandidate

    mod = task.dispatched[0]
    if not database.has_workload(mod):
        return 0
    candidates, results = [], []
    for record in database.get_top_k(database.commit_workload(mod), 10**6):
        sch = Schedule(mod)
        record.trace.apply_to_schedule(sch, remove_postproc=False)
        candidates.append(MeasureCandidate(sch, record.args_info))
        results.append(RunnerResult(record.run_secs, None))
    model.update(context, candidates, results)
    return len(candidates)


def seed_traces_for(task, seed: Seed, k: int) -> list:
    """The seed's top `k` records for this task's workload, or, for a workload the seed lacks (a
    channel-pruned graph's), the nearest seed tasks' traces fitted to it (transfer.transfer)."""
    return seed.top(task.dispatched[0], k) or transfer(task, seed, k)


def tune_shard(plan: dict, shard: int, cache: str | Path, out: str | Path, seed: int, population: int = 128,
               warm_start: str | Path | None = None, seed_traces: int = 2, cost_model: str = "per_task",
               runner=None, export=None) -> dict:
    """Bring every task of one shard up to its planned trial count, then snapshot the database.

    With a seed folder (`warm_start`, chosen by seed.choose_seed), each task's top `seed_traces` seed traces are
    first built and timed here and committed with local times (once per seed: the cache's
    seed_replayed.json remembers); they count as trials of the plan, and the search tunes the rest.
    `runner` times candidates (default: on this machine); `export` writes each built candidate for
    it (CandidateBuilder). A device's RPC runner and cross-linking export come from cross/rpc.py.
    """
    # Candidates run in the runner's worker processes, which inherit TVM_NUM_THREADS; without
    # it TVM takes half the logical CPUs and would time 2-core schedules on 1 thread here.
    cores = plan["target"].get("num-cores")
    warm_up_tvm(cores)
    from tvm.s_tir import meta_schedule as ms

    tasks = {t.task_name: t for t in extract_tasks(plan["target"], Widths.from_key(plan["widths"]))}
    mine = [entry for entry in plan["tasks"] if entry["shard"] == shard]
    missing = [e["name"] for e in mine if e["name"] not in tasks]
    if missing:
        raise TVMSetupError(f"task plan lists tasks this architecture does not have: {missing}")
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    repair_database(cache)
    database = ms.database.JSONDatabase(work_dir=str(cache))
    seed_db = Seed(warm_start) if warm_start else None
    replay_log_path = cache / "seed_replayed.json"
    replay_log = read_json(replay_log_path) if replay_log_path.exists() else {}
    replayed_here = replay_log.setdefault(seed_db.id, {}) if seed_db else {}
    shard_model = shard_cost_model(cost_model, cores)
    candidates = CandidateBuilder(workers=cores or 1, export=export)
    builder = candidates.builder()
    runner = runner or ms.runner.LocalRunner(evaluator_config=evaluator_config())
    summary, start = [], time.perf_counter()
    try:
        if seed_db:  # every task's seed traces first, in one batch (seed.replay says why)
            todo = {e["name"]: (tasks[e["name"]], seed_traces_for(tasks[e["name"]], seed_db, seed_traces))
                    for e in mine if e["name"] not in replayed_here}
            before_replay = {name: records_for(database, task) for name, (task, _) in todo.items()}
            replayed_here.update(replay(todo, database, builder, runner) if todo else {})
            write_json(replay_log, replay_log_path)  # after the records: a kill replays again, never skips
        else:
            before_replay = {}
        for i, entry in enumerate(mine, 1):
            task = tasks[entry["name"]]
            before = before_replay.get(entry["name"], records_for(database, task))
            row = {"task": entry["name"], "planned": entry["trials"], "records_before": before}
            if seed_db:
                row["seed_replayed"] = replayed_here[entry["name"]]
            with_seed = records_for(database, task)
            need = entry["trials"] - with_seed
            log.info("shard %d task %d/%d %s: %d records (%d from the seed), %d planned, tuning %d",
                     shard, i, len(mine), entry["name"], with_seed, with_seed - before, entry["trials"], max(need, 0))
            if need > 0:
                context = tune_context(task, str(cache), population, seed)
                task_model = task_cost_model(cost_model, shard_model, cores)
                if not isinstance(task_model, str):
                    row["cost_model_fed"] = feed_records(task_model, context, database, task)
                    row["cost_model_samples"] = task_model.data_size  # what the search starts with
                ms.tune.tune_tasks(tasks=[context], task_weights=[task.weight], work_dir=str(cache), max_trials_global=need,
                                   num_trials_per_iter=min(need, CANDIDATES_PER_BATCH), builder=builder, runner=runner,
                                   database=database, cost_model=task_model)
            row.update(searched=max(need, 0), records_after=records_for(database, task))
            summary.append(row)
    finally:
        candidates.close()
        if seed_db:
            seed_db.close()
    snapshot(cache, out)
    return {"shard": shard, "seconds": round(time.perf_counter() - start, 1), "cost_model": cost_model, "tasks": summary,
            "seed": ({"folder": str(warm_start), "id": seed_db.id,
                      **{k: v for k, v in seed_db.provenance.items() if k != "tasks"}} if seed_db else None)}


def tune_planned_shard(tasks: dict, shard: int, shards: int, cache_root: str | Path, out: str | Path,
                       seed_files: list[str], trials: int, min_trials: int, seed: int, population: int,
                       warm_start: str, seed_traces: int, cost_model: str, runner=None, export=None,
                       notes: dict | None = None) -> dict:
    """One shard of a graph's tuning from its tasks.json record: the seed chosen for its target
    (config tvm.warm_start), the trials planned over `shards`, the shard tuned into its persistent
    database under `cache_root`, and `out/summary.json` written (with `notes` added). Rule
    tvm_tune_shard on this machine; rule target_tune, one shard, on the device (cross/rpc.py)."""
    folder, why = choose_seed(warm_start, seed_files, tasks)
    log.info("warm start: %s", why)
    plan = plan_trials(tasks, trials, min_trials, shards)
    summary = tune_shard(plan, shard, cache_folder(cache_root, tasks, shard), out, seed, population, folder,
                         seed_traces, cost_model, runner=runner, export=export)
    summary = {**summary, "warm_start": why, **(notes or {})}
    write_json(summary, Path(out) / "summary.json")
    return summary
