"""Compile a variant's weights with the tuned database into an exported .so, and verify it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path
from ..chars import greedy_decode
from ..metrics import agreement
from ..model import LPRNet
from ..runtimes.tvm_vm import load as load_library
from .database import open_database
from .graph import export_relax
from ..tvm_setup import import_tvm, make_target

log = logging.getLogger(__name__)


def compile_library(model: LPRNet, target_spec: dict, database, path: str | Path) -> None:
    """Build `model` with the database's schedules and export the .so to `path`."""
    import_tvm()
    from tvm.s_tir import meta_schedule as ms

    target = make_target(target_spec)
    executable = ms.relax_integration.compile_relax(database, export_relax(model), target, None)
    executable.export_library(str(path))
    log.info("exported %s (%d bytes)", path, Path(path).stat().st_size)


def compile_and_verify(model: LPRNet, target_spec: dict, database_dir: str | Path, path: str | Path,
                       images: np.ndarray, threads: int) -> dict:
    """Compile, then check the library against PyTorch on `images` before it takes its name."""
    import_tvm(threads)
    with atomic_path(path) as tmp:
        compile_library(model, target_spec, open_database(database_dir), tmp)
        with torch.inference_mode():
            reference = model(torch.from_numpy(images)).numpy()
        logits = load_library(tmp, threads)(images)
        diff = float(np.abs(logits - reference).max())
        if not np.isfinite(diff):
            raise RuntimeError(f"{path}: compiled library gives non-finite logits")
    return {"target": target_spec, "max_abs_logit_diff": diff,
            "agreement_with_pytorch": agreement(greedy_decode(logits), greedy_decode(reference)),
            "checked_images": len(images)}


def cross_compile_library(model: LPRNet, target_spec: dict, compiler: str, path: str | Path,
                          database_dir: str | Path | None = None) -> None:
    """Build `model` for another machine and link the .so with the target's cross toolchain
    (`compiler`, e.g. aarch64-linux-gnu-gcc): with the schedules of `database_dir` (tuned on the
    device, cross/rpc.py), or without one TVM's default schedules."""
    tvm = import_tvm()
    from tvm.s_tir import meta_schedule as ms
    from tvm.support.cc import cross_compiler

    target = make_target(target_spec)
    if database_dir:
        executable = ms.relax_integration.compile_relax(open_database(database_dir), export_relax(model), target, None)
    else:
        executable = tvm.compile(export_relax(model), target=target)
    with atomic_path(path) as tmp:
        executable.export_library(str(tmp), fcompile=cross_compiler(compiler))
    log.info("cross-compiled %s for %s (%d bytes, %s)", path, target_spec.get("mtriple"), Path(path).stat().st_size,
             f"schedules of {database_dir}" if database_dir else "untuned")
