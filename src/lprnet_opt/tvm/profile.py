"""Per-kernel times of a tuned TVM graph: where the milliseconds of a library go.

Each tuned PrimFunc is built alone and timed on random inputs, then multiplied by how often
the graph calls it. The sum next to the whole library's time tells kernel cost from call
overhead; GFLOP/s per conv tells how far a schedule is from the machine's peak.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ..model import LPRNet
from .database import open_database
from .graph import export_relax, fuse_for_tuning
from ..tvm_setup import import_tvm, make_target


def tuned_graph(target_spec: dict, database_dir: str | Path):
    """The fused graph with the database's best schedules applied (as compile_relax does)."""
    tvm = import_tvm()
    from tvm import relax

    target = make_target(target_spec)
    mod = fuse_for_tuning(export_relax(LPRNet()), target)
    with target, open_database(database_dir), tvm.transform.PassContext(opt_level=3):
        return relax.transform.MetaScheduleApplyDatabase()(mod), target


def kernel_calls(mod) -> tuple[Counter, dict[str, list]]:
    """How often `main` calls each kernel, and the (shape, dtype) of its arguments and output."""
    from tvm import relax

    calls, signatures = Counter(), {}
    for block in mod["main"].body.blocks:
        for binding in block.bindings:
            value = binding.value
            if isinstance(value, relax.Call) and value.op.name == "relax.call_tir":
                name = value.args[0].name_hint
                calls[name] += 1
                tensors = [*value.args[1].fields, value]
                signatures[name] = [(tuple(int(d) for d in t.ty.shape), str(t.ty.dtype)) for t in tensors]
    return calls, signatures


def kernel_times(target_spec: dict, database_dir: str | Path, number: int = 50, repeat: int = 7) -> list[dict]:
    """One row per kernel: calls per inference, median ms per call, ms per inference, GFLOP/s."""
    tvm = import_tvm()
    from tvm.s_tir.analysis import estimate_tir_flops

    mod, target = tuned_graph(target_spec, database_dir)
    calls, signatures = kernel_calls(mod)
    rng = np.random.default_rng(0)
    rows = []
    for gvar, func in mod.functions.items():
        name = gvar.name_hint
        if name not in calls:
            continue
        alone = tvm.IRModule({"main": func.with_attr("global_symbol", "main")})
        library = tvm.compile(alone, target=target)
        args = [tvm.runtime.tensor(rng.uniform(-1, 1, shape).astype(dtype)) for shape, dtype in signatures[name]]
        timer = library.mod.time_evaluator("main", tvm.cpu(), number=number, repeat=repeat)
        per_call = float(np.median(timer(*args).results)) * 1e3
        flops = float(estimate_tir_flops(alone))
        rows.append({"kernel": name, "calls": calls[name], "ms_per_call": round(per_call, 4),
                     "ms_per_inference": round(per_call * calls[name], 4),
                     "gflops": round(flops / per_call / 1e6, 1) if flops > 1e5 else None})
    return sorted(rows, key=lambda r: r["ms_per_inference"], reverse=True)
