"""Seed schedules of the full-width graph, transferred to a channel-pruned graph's tasks.

A channel-pruned LPRNet has the full graph's operators at other channel counts, so its tasks
are workloads no seed holds, and at the default budget a search from scratch is a random one
(a 160-trial channel-pruned library ran 2.33x slower than ONNX Runtime on the same model).
The seed's schedules still fit those tasks structurally: the same blocks and loops, split by
other factors. A transferred trace keeps every decision of the seed's (loop order, compute
locations, unrolling, vectorisation) and replaces each tile decision whose product no longer
equals its loop's extent by the factorisation of the new extent nearest in log space, keeping
the innermost (vector) factor where it divides. Postprocessors then run for the new shapes, as
after any sampled candidate. (Transfer-tuning, Gibson and Cano, PACT 2022, did the same for
Ansor's schedules.) A transferred trace is built and timed here like any seed replay and
counts only with its local time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Transferred:
    """A seed trace adapted to another workload: `run_secs` are the seed's, for its own task."""

    trace: object  # tvm.s_tir.Trace, with postprocessing for the new shapes
    run_secs: list
    source: str  # the seed task it came from


def tensor_shapes(mod) -> list[tuple[str, tuple[int, ...]]]:
    """Dtype and shape of each parameter of a task's PrimFunc."""
    from tvm.s_tir.meta_schedule.arg_info import ArgInfo

    func = next(iter(mod.functions.values()))
    return [(str(info.dtype), tuple(int(d) for d in info.shape)) for info in ArgInfo.from_prim_func(func)]


def shape_distance(a: list, b: list) -> float:
    """How far two workloads' tensors are apart (sum of |log ratio| over dims); inf when the
    parameter count, a dtype or a rank differs, since no trace can then fit both."""
    if len(a) != len(b) or any(da != db or len(sa) != len(sb) for (da, sa), (db, sb) in zip(a, b)):
        return math.inf
    return sum(abs(math.log(x / y)) for (_, sa), (_, sb) in zip(a, b) for x, y in zip(sa, sb) if x and y)


@lru_cache(maxsize=4096)
def factorisations(extent: int, parts: int) -> tuple[tuple[int, ...], ...]:
    if parts == 1:
        return ((extent,),)
    divisors = [d for d in range(1, math.isqrt(extent) + 1) if extent % d == 0]
    divisors += [extent // d for d in reversed(divisors) if d * d != extent]
    return tuple((d, *rest) for d in divisors for rest in factorisations(extent // d, parts - 1))


def nearest_tiles(old: list[int], extent: int, inner: int | None = None) -> list[int]:
    """The split of `extent` into len(old) factors nearest to `old` in log space.

    With `inner` the innermost factor is fixed to it; without, the old innermost factor (the
    vector or reduction tile) is kept when it divides the new extent.
    """
    options = factorisations(extent, len(old))
    if inner is not None:
        options = [f for f in options if f[-1] == inner]

    def cost(tiles: tuple[int, ...]) -> tuple[bool, float]:
        return tiles[-1] != old[-1], sum(abs(math.log(t / o)) for t, o in zip(tiles, old))

    return list(min(options, key=cost))


# Two ways to fit a tile to a new extent; neither always wins. Measured on the channel-pruned
# graph (64 -> 48 channels): the nearest split kept a 48-wide inner tile that ran 3.8x slower
# than the seed's schedule on its own task, while the common divisor of old tile and new extent
# (16, one AVX-512 vector) keeps the vector shape. Both are built and timed; the faster counts.
FITS = {
    "nearest": lambda old, extent: nearest_tiles(old, extent),
    "common_divisor": lambda old, extent: nearest_tiles(old, extent, math.gcd(old[-1], extent)),
}


def adapt_trace(trace, mod, postprocs, fit=FITS["nearest"]):
    """`trace` applied to `mod` with tile decisions fitted to its extents by `fit`, postprocessed;
    the resulting schedule's trace, or None when it does not fit (other blocks or loops)."""
    from tvm.s_tir import Schedule

    sch = Schedule(mod)

    def decide(inst, inputs, attrs, decision):
        if inst.kind.name == "SamplePerfectTile":
            extent = int(sch.get(inputs[0]).extent)
            old = [int(x) for x in decision]
            if math.prod(old) != extent:
                return fit(old, extent)
        return decision

    try:
        trace.apply_to_schedule(sch, remove_postproc=True, decision_provider=decide)
        sch.enter_postproc()  # marks what follows, so the search can strip it before mutating
        for postproc in postprocs:
            if not postproc.apply(sch):
                return None
    except Exception:  # noqa: BLE001 - a trace of another structure: not a candidate, nothing to report
        return None
    return sch.trace


def transfer(task, seed, k: int, sources: int = 2) -> list[Transferred]:
    """The top `k` traces of the `sources` seed tasks nearest to `task` (by tensor shapes) whose
    traces fit it, each fitted both ways (FITS), without duplicates.

    Nearest first, so a conv takes the traces of the full graph's conv at the same place before
    those of another kernel shape.
    """
    from tvm.s_tir import meta_schedule as ms

    mod = task.dispatched[0]
    context = ms.TuneContext(mod=mod, target=task.target, space_generator="post-order-apply",
                             task_name=task.task_name)
    postprocs = context.space_generator.postprocs
    shapes = tensor_shapes(mod)
    ranked = sorted((shape_distance(shapes, tensor_shapes(seed_mod)), name, seed_mod)
                    for name, seed_mod in seed.workloads())
    found, seen, used = [], set(), 0
    for distance, name, seed_mod in ranked:
        if not math.isfinite(distance) or used == sources:
            break
        fitted = False
        for record in seed.top(seed_mod, k):
            for fit in FITS.values():
                adapted = adapt_trace(record.trace, mod, postprocs, fit)
                if adapted is not None and str(adapted) not in seen:
                    seen.add(str(adapted))
                    found.append(Transferred(adapted, list(record.run_secs), name))
                    fitted = True
        used += fitted
    return found
