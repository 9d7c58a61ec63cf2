"""The one way this project writes an output file: under a temporary name, then renamed.

A job killed halfway leaves a `.partial` file that nothing reads, never a complete-looking
output; Snakemake then reruns the job.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it goes.

    The temporary name keeps the suffix (`model.partial.so`), for writers that choose the
    format by it (TVM's export_library).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.partial{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(record: dict, path: str | Path) -> None:
    write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", path)


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
