"""Seed databases: the best schedules of a full-budget tuning, shipped with the project and
replayed on this machine before any search (what TopHub did for AutoTVM).

A task depends on the architecture, input shape, layouts and target, never on the weights, so
schedules tuned once at full budget serve every user of the same graph. A seed's run times were
measured on another machine and never compete with local ones: before a task is searched, its
top seed traces are built and timed here and committed to the local database with the local
times. The evolutionary search then starts from them (it draws the measured part of each
population from the database's top k), and compiles read the local database only.

A seed lives in `<root>/<name>/`: the two MetaSchedule JSON files, gzipped, and `seed.json`
(provenance: CPU, CPU class, target, trials, date, TVM version, graph). Written by

    python -m lprnet_opt.tvm.seed SHARD_DIR... --tasks tasks.json --trials N --out data/tvm_seed/<name>
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path

from .. import isa
from ..atomic import read_json, write_json
from ..tvm_setup import import_tvm, llvm_arch, make_target
from .curve import database_records
from .transfer import Transferred

log = logging.getLogger(__name__)

FILES = ("database_workload.json", "database_tuning_record.json")
PROVENANCE = "seed.json"
# LLVM's feature names where /proc/cpuinfo spells them differently (isa.FEATURES uses cpuinfo's).
LLVM_TO_CPUINFO = {"avx512vnni": "avx512_vnni", "avxvnni": "avx_vnni", "amx-int8": "amx_int8", "amx-tile": "amx_tile"}


def target_isa(target_spec: dict) -> str:
    """The CPU class (isa.CLASSES) of the code a TVM target generates, from LLVM's features of its mcpu."""
    target = make_target(target_spec)  # imports TVM with the project's version check
    from tvm.target import codegen

    features = {str(f) for f in codegen.llvm_get_cpu_features(target)}
    return isa.isa_class(onednn=False, flags={LLVM_TO_CPUINFO.get(f, f) for f in features})


def seed_class(target_spec: dict) -> tuple[str, str]:
    """What a seed is keyed by (architecture, class): on x86 the CPU class of the code the target
    generates, elsewhere its -mcpu. Schedules of another architecture never apply."""
    arch = llvm_arch(target_spec)
    return (arch, target_isa(target_spec)) if arch == "x86_64" else (arch, str(target_spec.get("mcpu", "generic")))


def made_for(provenance: dict) -> tuple[str, str]:
    """The (architecture, class) a seed was made for. Seeds made before the field existed were
    all x86 (their isa_class says which)."""
    return provenance.get("arch", "x86_64"), provenance.get("seed_class", provenance["isa_class"])


def pick_class(available: list[str], wanted: str) -> str | None:
    """The most capable seed class that is not above `wanted`: its code runs on the target's CPU.

    A seed of a higher class would replay schedules shaped for wider vectors than the target has.
    """
    usable = [c for c in available if isa.CLASSES.index(c) <= isa.CLASSES.index(wanted)]
    return max(usable, key=isa.CLASSES.index) if usable else None


def pick_seed(available: list[tuple[str, str]], wanted: tuple[str, str]) -> tuple[str, str] | None:
    """The seed key for a target: of its own architecture; on x86 by class (pick_class), elsewhere
    the same -mcpu (an Arm core's schedules are not ordered like x86 vector widths)."""
    arch, cls = wanted
    classes = [c for a, c in available if a == arch]
    chosen = pick_class([c for c in classes if c in isa.CLASSES], cls) if arch == "x86_64" else (
        cls if cls in classes else None)
    return (arch, chosen) if chosen is not None else None


def choose_seed(setting: str, seed_files: list[str | Path], tasks: dict) -> tuple[Path | None, str]:
    """The seed folder for this tuning (or None) and a sentence saying why.

    `setting` is the config key tvm.warm_start: "off", "auto" (of the seeds whose files are
    `seed_files`, the one for the graph and LLVM target: same architecture, and on x86 the most
    capable class not above the target's), or a seed folder to use whatever it was made for.
    """
    if setting == "off":
        return None, "warm start off (tvm.warm_start: off): tuned from scratch"
    wanted = seed_class(tasks["target"])
    label = "/".join(wanted)
    if setting != "auto":
        folder = Path(setting)
        if not (folder / PROVENANCE).is_file():
            raise FileNotFoundError(f"config key tvm.warm_start: {folder} is not a seed folder (no {PROVENANCE})")
        made = read_json(folder / PROVENANCE)
        return folder, f"seed {folder} ({'/'.join(made_for(made))}) as configured, for a {label} target"
    by_graph: dict[str, dict[tuple[str, str], Path]] = {}
    for provenance in sorted(Path(f) for f in seed_files if Path(f).name == PROVENANCE):
        made = read_json(provenance)
        by_graph.setdefault(made["graph"], {})[made_for(made)] = provenance.parent
    # A channel-pruned graph's key is the full graph's plus its widths (tvm_setup.graph_key):
    # without a seed of its own it takes the full graph's, whose traces transfer.transfer fits.
    full_graph = tasks["graph"].removesuffix(f"_{tasks['widths']}")
    for graph in dict.fromkeys([tasks["graph"], full_graph]):
        chosen = pick_seed(list(by_graph.get(graph, {})), wanted)
        if chosen is not None:
            folder = by_graph[graph][chosen]
            if graph == tasks["graph"]:
                return folder, f"seed {folder} ({'/'.join(chosen)}) for a {label} target"
            return folder, (f"seed {folder} ({'/'.join(chosen)}) of the full-width graph for a {label} target, "
                            f"its traces transferred to widths {tasks['widths']}")
    seeds = by_graph.get(tasks["graph"], {})
    return None, (f"no seed for graph {tasks['graph']} and a {label} target "
                  f"(seeds for it: {sorted('/'.join(k) for k in seeds) or 'none'}): tuned from scratch")


def best_records(shard_dirs: list[str | Path], workloads: dict[str, str], per_task: int) -> dict[str, dict]:
    """Each task's `per_task` fastest working records from the shards' JSON databases, as JSON."""
    name_of = {shash: name for name, shash in workloads.items()}
    found: dict[str, list] = {name: [] for name in workloads}
    modules = {}
    for folder in shard_dirs:
        for (shash, mod), record, seconds in database_records(folder):
            if shash in name_of and math.isfinite(seconds):
                modules[shash] = mod
                found[name_of[shash]].append((seconds, record))
    return {name: {"workload": [workloads[name], modules[workloads[name]]],
                   "records": [r for _, r in sorted(found[name], key=lambda x: x[0])[:per_task]]}
            for name in workloads if found[name]}


def write_seed(shard_dirs: list[str | Path], tasks_json: str | Path, trials: int, out: str | Path,
               per_task: int = 2) -> dict:
    """Write a seed folder from a full tuning's shard databases; returns its provenance."""
    tasks = read_json(tasks_json)
    best = best_records(shard_dirs, tasks["workloads"], per_task)
    out = Path(out)
    tmp = out.with_name(f"{out.name}.partial")  # a folder: written whole, then renamed into place
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        names = sorted(best)
        with gzip.open(tmp / f"{FILES[0]}.gz", "wt") as handle:
            handle.writelines(json.dumps(best[n]["workload"]) + "\n" for n in names)
        with gzip.open(tmp / f"{FILES[1]}.gz", "wt") as handle:
            handle.writelines(json.dumps([i, r]) + "\n" for i, n in enumerate(names) for r in best[n]["records"])
        tvm = import_tvm()
        provenance = {
            "graph": tasks["graph"], "target": tasks["target"], "isa_class": target_isa(tasks["target"]),
            # What choose_seed matches (seed_class): the architecture, and its class or -mcpu.
            **dict(zip(("arch", "seed_class"), seed_class(tasks["target"]))),
            "cpu_model": isa.cpuinfo_field("model name"),
            "cpu_family_model": f"{isa.cpuinfo_field('cpu family')}/{isa.cpuinfo_field('model')}",
            "cpu_class": isa.isa_class(onednn=False), "trials": trials, "tvm": tvm.__version__,
            "date": datetime.date.today().isoformat(), "records_per_task": per_task,
            "tasks": {n: round(sum(best[n]["records"][0][1]) / len(best[n]["records"][0][1]) * 1e3, 5) for n in names},
            "missing_tasks": sorted(set(tasks["workloads"]) - set(best)),
        }
        write_json(provenance, tmp / PROVENANCE)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return provenance


class Seed:
    """A seed folder opened as a MetaSchedule database (unpacked into a temporary folder)."""

    def __init__(self, folder: str | Path) -> None:
        from tvm.s_tir import meta_schedule as ms

        self.folder = Path(folder)
        self.provenance = read_json(self.folder / PROVENANCE)
        digest = hashlib.sha256()
        self._tmp = Path(tempfile.mkdtemp(prefix="tvm_seed_"))
        for name in FILES:
            with gzip.open(self.folder / f"{name}.gz", "rb") as source, open(self._tmp / name, "wb") as target:
                data = source.read()
                digest.update(data)
                target.write(data)
        # Names the seed in the shard's replay log, so a changed seed is replayed again.
        self.id = digest.hexdigest()[:16]
        self.database = ms.database.JSONDatabase(work_dir=str(self._tmp), allow_missing=False)
        self._workloads: list | None = None

    def workloads(self) -> list[tuple[str, object]]:
        """The seed's tasks as (name, workload module), in the order write_seed wrote them."""
        from tvm.s_tir.meta_schedule.database import Workload

        if self._workloads is None:
            lines = (self._tmp / FILES[0]).read_text().splitlines()
            self._workloads = [(name, Workload.from_json(json.loads(line)).mod)
                               for name, line in zip(sorted(self.provenance["tasks"]), lines)]
        return self._workloads

    def top(self, mod, k: int) -> list:
        if not self.database.has_workload(mod):
            return []
        return list(self.database.get_top_k(self.database.commit_workload(mod), k))

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)


def replay(todo: dict[str, tuple], database, builder, runner) -> dict[str, list[dict]]:
    """Build and time seed traces here, all in one batch; commit the working ones with local times.

    `todo` maps task names to (task, seed records or transfer.Transferred traces). Returns, per
    task and record, the seed's milliseconds and the local ones (None when the trace did not
    apply, build or run here: a seed from another class of CPU may not).

    The first candidate of a runner batch runs cold: the same kernel measured 0.061-0.066 ms
    first in a batch and 0.029-0.031 ms after it, in every repeat (AMD EPYC, AVX-512). So the
    batch starts with an extra copy of its first trace, whose time is thrown away.
    """
    from tvm.s_tir import Schedule
    from tvm.s_tir.meta_schedule.arg_info import ArgInfo
    from tvm.s_tir.meta_schedule.builder import BuilderInput
    from tvm.s_tir.meta_schedule.database import TuningRecord
    from tvm.s_tir.meta_schedule.runner import RunnerInput

    outcomes: dict[str, list[dict]] = {}
    ready = []  # (outcome, task, schedule, args_info)
    for name, (task, records) in todo.items():
        outcomes[name] = []
        for record in records:
            outcome = {"seed_ms": round(sum(float(x) for x in record.run_secs) / len(record.run_secs) * 1e3, 5),
                       "local_ms": None}
            if isinstance(record, Transferred):  # seed_ms is then its source task's time there
                outcome["transferred_from"] = record.source
            outcomes[name].append(outcome)
            try:
                sch = Schedule(task.dispatched[0])
                record.trace.apply_to_schedule(sch, remove_postproc=False)
                ready.append((outcome, task, sch, ArgInfo.from_entry_func(sch.mod, remove_preproc=True)))
            except Exception as error:  # a trace from another CPU class may not apply here
                outcome["error"] = f"does not apply: {str(error).splitlines()[0][:200] if str(error) else type(error).__name__}"
    if not ready:
        return outcomes
    batch = [ready[0], *ready]  # the first is the throwaway warm-up
    built = builder.build([BuilderInput(sch.mod, task.target) for _, task, sch, _ in batch])
    # The runner names devices as the runtime does ("cpu"), not by target kind ("llvm").
    device = {"llvm": "cpu"}
    runs = runner.run([RunnerInput(b.artifact_path, device.get(task.target.kind.name, task.target.kind.name), info)
                       for b, (_, task, _, info) in zip(built, batch) if not b.error_msg])
    results = iter(future.result() for future in runs)
    for index, (b, (outcome, task, sch, info)) in enumerate(zip(built, batch)):
        ran = None if b.error_msg else next(results)
        if index == 0:
            continue
        if b.error_msg or ran.error_msg:
            outcome["error"] = (b.error_msg or ran.error_msg).splitlines()[0][:200]
            continue
        workload = database.commit_workload(task.dispatched[0])
        database.commit_tuning_record(TuningRecord(sch.trace, workload, ran.run_secs, task.target, info))
        outcome["local_ms"] = round(sum(float(x) for x in ran.run_secs) / len(ran.run_secs) * 1e3, 5)
    for name, rows in outcomes.items():
        for row in rows:
            if "error" in row:
                log.warning("%s: a seed trace failed here: %s", name, row["error"])
    return outcomes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a TVM seed database from a full tuning's shards.")
    parser.add_argument("shards", nargs="+", help="the shards' database folders (results/tvm/tune/.../shard<i>)")
    parser.add_argument("--tasks", required=True, help="the tasks.json beside them")
    parser.add_argument("--trials", type=int, required=True, help="the budget they were tuned with (provenance)")
    parser.add_argument("--out", required=True, help="the seed folder to write, e.g. data/tvm_seed/avx512_vnni")
    parser.add_argument("--per-task", type=int, default=2, help="records kept per task (default 2)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    made = write_seed(args.shards, args.tasks, args.trials, args.out, args.per_task)
    log.info("%s: %d tasks, %s target (%s), tuned on %s", args.out, len(made["tasks"]), made["isa_class"],
             made["target"].get("mcpu"), made["cpu_model"])


if __name__ == "__main__":
    main()
