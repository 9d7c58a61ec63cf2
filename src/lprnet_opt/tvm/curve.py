"""The tuning curve: estimated whole-model latency against trials, read from a MetaSchedule
JSON database and the task list (tasks.json). It answers "should I tune longer?".

Plain JSON parsing: the report draws it without importing TVM.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

# MetaSchedule commits a candidate that failed to build or run with a huge run time.
FAILED_S = 1e9


def database_records(database: str | Path) -> list[tuple[list, list, float]]:
    """A shard's JSON database as (workload line [hash, module], record, mean seconds) per tuning
    record, in the order they were committed; a failed trial's seconds are inf."""
    database = Path(database)
    workloads = [json.loads(line) for line in (database / "database_workload.json").read_text().splitlines()
                 if line.strip()]
    records = database / "database_tuning_record.json"
    rows = []
    for number, line in enumerate(records.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            index, record = json.loads(line)
            run_secs = record[1]
        except (ValueError, IndexError, TypeError) as error:
            raise ValueError(f"{records}:{number}: not a tuning record ({error})") from error
        seconds = sum(run_secs) / len(run_secs) if run_secs else math.inf
        rows.append((workloads[index], record, seconds if seconds < FAILED_S else math.inf))
    return rows


def task_run_times(databases: list[str | Path], workloads: dict[str, str]) -> dict[str, list[float]]:
    """Each task's measured seconds per call, trial by trial, in the order they were committed
    (a failed trial is inf: it spent a trial and found nothing).

    `databases` are the shards' JSON databases, whose files grow by appending, so their lines
    are in trial order; the merged database is not (`merge_databases` reads records back best
    first, which drew a flat curve). `workloads` maps task names to the structural hashes the
    databases file them under (tasks.json, written by `tune.write_tasks`).
    """
    task_of = {shash: name for name, shash in workloads.items()}
    times: dict[str, list[float]] = {name: [] for name in workloads}
    for database in databases:
        for (shash, _), _, seconds in database_records(database):
            if shash in task_of:
                times[task_of[shash]].append(seconds)
    return times


def tuning_curve(times: dict[str, list[float]], calls: dict[str, int], points: int = 40) -> list[dict]:
    """Estimated latency (ms): every task's best time so far, times its calls per inference, summed.

    Shards tune their tasks one after another, so the database's global order says nothing
    about a smaller budget. Point k instead gives every task the first k/points of its own
    trials, in the order they ran: the plan splits any budget between tasks in proportion, so
    this is the curve a proportionally smaller budget would have followed. Points at which
    some task has no working schedule yet are left out.
    """
    if not times or any(not t for t in times.values()):
        return []
    curve = []
    for step in range(1, points + 1):
        used = {name: max(1, math.ceil(step / points * len(t))) for name, t in times.items()}
        estimate = sum(calls[name] * min(times[name][:used[name]]) for name in times)
        if math.isfinite(estimate):
            curve.append({"trials": sum(used.values()), "estimated_ms": estimate * 1e3})
    return curve


def curve_of(databases: list[str | Path], tasks_json: str | Path) -> list[dict]:
    """The tuning curve of one architecture's shard databases, with the tasks.json beside them."""
    tasks = json.loads(Path(tasks_json).read_text())
    if "calls" not in tasks or "workloads" not in tasks:
        raise ValueError(f"{tasks_json}: written by an older version (no 'calls'/'workloads'); rerun rule tvm_tasks")
    return tuning_curve(task_run_times(databases, tasks["workloads"]), tasks["calls"])


def schedule_origin(shard_dirs: list[str | Path]) -> dict:
    """Where one database's schedules came from, from its shards' summary.json: records measured
    here, seed traces replayed here (and how many failed), trials searched, and the seed."""
    origin = {"records": 0, "replayed": 0, "replay_failed": 0, "transferred": 0, "searched": 0, "seed": None,
              "warm_start": None}
    for folder in map(Path, shard_dirs):
        summary = json.loads((folder / "summary.json").read_text())
        origin["warm_start"] = summary.get("warm_start", origin["warm_start"])
        origin["seed"] = summary.get("seed") or origin["seed"]
        for task in summary["tasks"]:
            origin["records"] += task["records_after"]
            replays = task.get("seed_replayed") or []
            origin["replayed"] += sum(r["local_ms"] is not None for r in replays)
            origin["replay_failed"] += sum(r["local_ms"] is None for r in replays)
            origin["transferred"] += sum(r["local_ms"] is not None and "transferred_from" in r for r in replays)
            origin["searched"] += task.get("searched", task["records_after"] - task["records_before"])
    return origin


def origin_sentence(origin: dict) -> str:
    """One line for the report: '545 records measured here: 57 seed traces replayed here, ...'."""
    text = (f"{origin['records']} records measured on this machine: {origin['replayed']} seed traces replayed here"
            + (f" ({origin['transferred']} of them fitted from other shapes)" if origin["transferred"] else "")
            + (f" ({origin['replay_failed']} failed here)" if origin["replay_failed"] else "")
            + f", {origin['searched']} trials searched in this run")
    seed = origin["seed"]
    if seed:
        text += (f"; seed {seed['folder']}: {seed['trials']} trials for {seed['target'].get('mcpu')} "
                 f"({seed['isa_class']}) on {seed['cpu_model']} {seed['cpu_family_model']}, {seed['date']}, "
                 f"TVM {seed['tvm']}")
    elif origin["warm_start"]:
        text += f"; {origin['warm_start']}"
    return text
