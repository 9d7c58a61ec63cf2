"""Per-kernel times of a tuned TVM graph: where the milliseconds of a library go.

Each tuned PrimFunc is built alone and timed two ways. Alone: MetaSchedule's way, the same
call repeated on the same tensors, so its weights and inputs stay hot in cache. In sequence:
every kernel called in the graph's order on the intermediates the previous kernels wrote,
as the library runs them. The two sums next to the whole library's time tell kernel cost,
cache effects between kernels and call overhead apart; GFLOP/s per conv tells how far a
schedule is from the machine's peak.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np

from ..geometry import BATCH1_SHAPE
from ..model import LPRNet
from .database import open_database
from .graph import export_relax, fuse_for_tuning
from ..tvm_setup import import_tvm, make_target


def tuned_graph(target_spec: dict, database_dir: str | Path, model: LPRNet | None = None):
    """The fused graph of `model` (default: a new full LPRNet) with the database's best
    schedules applied, as compile_relax does."""
    tvm = import_tvm()
    from tvm import relax

    target = make_target(target_spec)
    mod = fuse_for_tuning(export_relax(model if model is not None else LPRNet()), target)
    with target, open_database(database_dir), tvm.transform.PassContext(opt_level=3):
        return relax.transform.MetaScheduleApplyDatabase()(mod), target


def graph_calls(mod) -> list:
    """`main`'s kernel calls in order: (kernel name, arguments, the variable it binds)."""
    from tvm import relax

    return [(binding.value.args[0].name_hint, list(binding.value.args[1].fields), binding.var)
            for block in mod["main"].body.blocks for binding in block.bindings
            if isinstance(binding.value, relax.Call) and binding.value.op.name == "relax.call_tir"]


def kernel_calls(mod) -> tuple[Counter, dict[str, list]]:
    """How often `main` calls each kernel, and the (shape, dtype) of its arguments and output."""
    calls, signatures = Counter(), {}
    for name, args, var in graph_calls(mod):
        calls[name] += 1
        signatures[name] = [(tuple(int(d) for d in t.ty.shape), str(t.ty.dtype)) for t in [*args, var]]
    return calls, signatures


def build_kernel(func, target):
    """One tuned PrimFunc of the graph compiled alone, as a module whose "main" calls it."""
    tvm = import_tvm()
    return tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target=target)


def run_in_sequence(mod, kernels: dict, image: np.ndarray, rounds: int) -> tuple[list[list[int]], np.ndarray]:
    """Call every kernel of `main` in order, `rounds` times, on the intermediates the calls
    before it wrote; returns each call's nanoseconds per round, and `main`'s output."""
    tvm = import_tvm()

    calls = graph_calls(mod)
    values = {mod["main"].params[0]: tvm.runtime.tensor(image)}
    # Weights are uploaded once, outputs allocated once: the loop times the kernels only.
    constants = {id(a): tvm.runtime.tensor(a.value.numpy()) for _, args, _ in calls for a in args
                 if isinstance(a, tvm.ir.expr.Constant)}
    outputs = [tvm.runtime.empty(tuple(int(d) for d in var.ty.shape), str(var.ty.dtype)) for _, _, var in calls]
    nanoseconds = [[] for _ in calls]
    for _ in range(rounds):
        for i, (name, args, var) in enumerate(calls):
            tensors = [constants[id(a)] if id(a) in constants else values[a] for a in args]
            start = time.perf_counter_ns()
            kernels[name](*tensors, outputs[i])
            nanoseconds[i].append(time.perf_counter_ns() - start)
            values[var] = outputs[i]
    return nanoseconds, outputs[-1].numpy()


def kernel_times(target_spec: dict, database_dir: str | Path, number: int = 50, repeat: int = 7,
                 rounds: int = 300) -> list[dict]:
    """One row per kernel: calls per inference; median ms per call alone and, summed over its
    calls, per inference alone and in sequence (`rounds` passes, the first tenth discarded as
    warm-up); GFLOP/s alone."""
    tvm = import_tvm()
    from tvm.s_tir.analysis import estimate_tir_flops

    mod, target = tuned_graph(target_spec, database_dir)
    calls, signatures = kernel_calls(mod)
    rng = np.random.default_rng(0)
    kernels, rows = {}, []
    for gvar, func in mod.functions.items():
        name = gvar.name_hint
        if name not in calls:
            continue
        library = build_kernel(func, target)
        kernels[name] = library["main"]
        args = [tvm.runtime.tensor(rng.uniform(-1, 1, shape).astype(dtype)) for shape, dtype in signatures[name]]
        timer = library.mod.time_evaluator("main", tvm.cpu(), number=number, repeat=repeat)
        per_call = float(np.median(timer(*args).results)) * 1e3
        flops = float(estimate_tir_flops(tvm.IRModule({"main": func})))
        rows.append({"kernel": name, "calls": calls[name], "ms_per_call": round(per_call, 4),
                     "ms_per_inference": round(per_call * calls[name], 4),
                     "gflops": round(flops / per_call / 1e6, 1) if flops > 1e5 else None})
    image = rng.uniform(-1, 1, BATCH1_SHAPE).astype("float32")
    nanoseconds, _ = run_in_sequence(mod, kernels, image, rounds)
    in_sequence = Counter()
    for (name, _, _), times in zip(graph_calls(mod), nanoseconds):
        in_sequence[name] += float(np.median(times[rounds // 10:])) / 1e6
    for row in rows:
        row["ms_in_sequence"] = round(in_sequence[row["kernel"]], 4)
    return sorted(rows, key=lambda r: r["ms_per_inference"], reverse=True)
