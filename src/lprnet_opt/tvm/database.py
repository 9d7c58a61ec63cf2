"""MetaSchedule JSON databases: repair after a kill, count records, snapshot, merge, open."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from ..atomic import write_text
from ..tvm_setup import import_tvm

log = logging.getLogger(__name__)


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
        write_text("".join(line + "\n" for line in good), path)


def records_for(database, task) -> int:
    mod = task.dispatched[0]
    if not database.has_workload(mod):
        return 0
    return len(database.get_top_k(database.commit_workload(mod), 10**6))


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
