"""The workflow's timing protocol (rule timing, `bench --isolated`): every variant alone in a
process of its own; all processes of a set take turns in short time-sized blocks, round after
round in alternating order; a few fresh sets of processes; rounds that ran beside other work
are timed again. Ratios are paired by round, so a uniform change of the machine's speed cancels.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .contention import ForeignLoad
from .environment import environment
from .stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_grouped_median_interval
from .timing import BUNDLE, COMPILING, TimedProcess, calls_for, start_loaded, time_round

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimingSettings:
    threads: int
    warmup: int
    # Fresh sets of processes (each loads and warms every variant again) and rounds in all,
    # split evenly over the sets: a round is one turn of every variant (docs/timing-protocol.md).
    process_sets: int
    rounds: int
    # Target duration of a variant's timed block in a round (calls sized to it from the last median).
    block_ms: float
    foreign_load_limit: float  # cores of other work a round may see before it is timed again
    max_retimed_rounds: int
    throughput_batch: int  # 0: no throughput
    # Rounds with a throughput turn: "all" (the throughput objective ranks by it) or "first" of each set.
    throughput_rounds: str = "first"
    # Target duration of a variant's end-to-end block (bundle's predict() on one image file) in a round.
    e2e_block_ms: float = 10.0


def time_side_by_side(artifacts: dict[str, tuple[str, str]], sample: Path, settings: TimingSettings,
                      reference: str, bundles: dict[str, str] | None = None, image: Path | None = None) -> dict:
    """Time every variant in a process of its own (`timing.time_round`): `process_sets` fresh
    sets of processes, each timed for its share of `rounds` rounds in alternating order.

    With `bundles` (variant: deploy bundle folder), each process runs the bundle's predict.py
    instead of the runtime module (the same loader code, deploy/predict_source.py), and with an
    `image` file each round also times `predict` on it, end to end, in the same turns.

    A uniform change of the machine's speed between rounds is what pairing by round cancels,
    so it is no reason to retime. A round is timed again, at once and in the same processes,
    only when other processes used more than `foreign_load_limit` cores during it, at most
    `max_retimed_rounds` times in all; what is still disturbed then makes the run `contended`.
    Hypervisor steal time is recorded per round beside it: another guest on the host, which no
    in-guest monitor can stop.
    """
    names = list(artifacts)
    medians: dict[str, list[float]] = {v: [] for v in names}
    calls: dict[str, list[list[float]]] = {v: [] for v in names}  # per round, every timed call
    e2e: dict[str, list[float]] = {v: [] for v in names}  # per round, the end-to-end median
    ips: dict[str, list[float | None]] = {v: [] for v in names}  # per round, images per second (or None)
    extra: dict[str, dict] = {}
    foreign: list[float] = []
    steal: list[float] = []
    sets: list[int] = []  # per round, the process set that timed it
    retimed = 0
    load_before = os.getloadavg()
    timed_e2e = bool(bundles and image)
    # Never more sets than rounds: a set that times no round would load every variant for nothing.
    sets_used = min(settings.process_sets, settings.rounds)
    per_set = [settings.rounds // sets_used + (i < settings.rounds % sets_used) for i in range(sets_used)]

    def load_set() -> dict[str, TimedProcess]:
        # Loading and warm-up are not timed, so a set's processes do them side by side, as many
        # at once as the machine has cores, the compiling ones first (`start_loaded`).
        specs = {v: {"runtime": BUNDLE if bundles else artifacts[v][0],
                     "artifact": bundles[v] if bundles else artifacts[v][1], "sample": sample,
                     "threads": settings.threads, "warmup": settings.warmup, "image": image if bundles else None,
                     "batch": settings.throughput_batch}
                 for v in sorted(names, key=lambda v: artifacts[v][0].partition("@")[0] not in COMPILING)}
        loaded = start_loaded(specs, os.cpu_count() or 1)
        for process in loaded.values():
            process.wait_quiet()
        return loaded

    for index, rounds in enumerate(per_set):
        processes = {}
        try:
            processes = load_set()
            block = {v: calls_for(settings.block_ms, processes[v].call_ms) for v in names}
            e2e_block = {v: calls_for(settings.e2e_block_ms, processes[v].e2e_ms) for v in names}
            r = 0
            while r < rounds:
                order = names if len(foreign) % 2 == 0 else names[::-1]
                with_batch = settings.throughput_batch and (settings.throughput_rounds == "all" or r == 0)
                monitor = ForeignLoad(own=[process.process.pid for process in processes.values()])
                turns = time_round({v: processes[v] for v in order}, block, e2e_block if timed_e2e else None,
                                   batch_calls=1 if with_batch else 0)
                cores, stolen = monitor.cores()
                if cores > settings.foreign_load_limit and retimed < settings.max_retimed_rounds:
                    log.info("timing set %d round %d again: %.2f cores used by other processes (limit %s)",
                             index + 1, r + 1, cores, settings.foreign_load_limit)
                    retimed += 1
                    continue
                for v in names:
                    medians[v].append(float(np.median(turns[v]["times"])))
                    calls[v].append(turns[v]["times"])
                    if turns[v]["e2e"]:
                        e2e[v].append(float(np.median(turns[v]["e2e"])))
                    ips[v].append(turns[v]["images_per_second"])
                    # Size the next block from this round's median: warm-up ran beside loading.
                    block[v] = calls_for(settings.block_ms, medians[v][-1])
                foreign.append(round(cores, 3))
                steal.append(round(stolen, 3))
                sets.append(index)
                r += 1
            log.info("timing set %d/%d: %d rounds, %s=%.3f ms (median), foreign load up to %.2f cores, "
                     "steal up to %.2f cores", index + 1, sets_used, rounds, reference,
                     float(np.median(medians[reference][-rounds:])), max(foreign[-rounds:]), max(steal[-rounds:]))
            for v, process in processes.items():
                if v not in extra:
                    extra[v] = process.finish()
        finally:
            for process in processes.values():
                process.kill()
    reasons = [f"round {r + 1}: {cores:.2f} cores used by other processes (limit {settings.foreign_load_limit})"
               for r, cores in enumerate(foreign) if cores > settings.foreign_load_limit]
    for v in names:  # the spread of single calls, over every round kept
        pooled = np.concatenate(calls[v])
        extra[v] = {"peak_rss_mb": round(extra[v]["peak_rss_mb"], 1), "torch_imported": extra[v]["torch_imported"],
                    "precision": extra[v]["precision"],
                    "latency_p10_ms": round(float(np.percentile(pooled, 10)), 4),
                    "latency_p90_ms": round(float(np.percentile(pooled, 90)), 4)}
    return {"round_medians_ms": medians, "e2e_round_medians_ms": e2e if any(e2e.values()) else None,
            "round_images_per_second": ips if settings.throughput_batch else None, "round_process_set": sets,
            "per_variant": extra, "round_foreign_cores": foreign, "round_steal_cores": steal,
            "retimed_rounds": retimed, "contended": bool(reasons), "contention_reasons": reasons,
            "load_avg": {"before": [round(x, 2) for x in load_before],
                         "after": [round(x, 2) for x in os.getloadavg()]}}


def round_latency(medians: list[float]) -> dict[str, float]:
    """A variant's latency from its round medians: their median, range and relative spread."""
    latency = np.array(medians)
    middle = float(np.median(latency))
    return {"latency_ms": round(middle, 4), "latency_round_min_ms": round(float(latency.min()), 4),
            "latency_round_max_ms": round(float(latency.max()), 4),
            "latency_round_spread": round(float(latency.max() - latency.min()) / middle, 4)}


def paired_ratio(variant: list[float | None], reference: list[float | None], groups: list[int] | None = None) -> dict:
    """Median, min and max over rounds of variant / reference, paired by round (rounds where
    either is None are left out), and a bootstrap 95% interval of that median, resampling
    process sets and then rounds within them (`groups`: each round's set), so that what a
    fresh process adds to a variant's speed widens the interval. Fixed seed: the same rounds
    give the same interval."""
    kept = [i for i, (a, b) in enumerate(zip(variant, reference, strict=True)) if a is not None and b is not None]
    ratios = np.array([variant[i] / reference[i] for i in kept])
    low, high = bootstrap_grouped_median_interval(ratios, [groups[i] for i in kept] if groups else None)
    return {"median": round(float(np.median(ratios)), 4), "min": round(float(ratios.min()), 4),
            "max": round(float(ratios.max()), 4), "ci": [round(low, 4), round(high, 4)]}


def end_to_end(e2e: list[float], inference: list[float]) -> dict:
    """The bundle's predict() on one image file against inference alone, paired by round:
    what reading, preprocessing and decoding add per plate (median, min, max over rounds)."""
    added = np.array(e2e) - np.array(inference)
    return {"e2e_latency_ms": round(float(np.median(e2e)), 4), "e2e_round_medians_ms": [round(m, 4) for m in e2e],
            "e2e_added_ms": round(float(np.median(added)), 4),
            "e2e_added_range_ms": [round(float(added.min()), 4), round(float(added.max()), 4)]}


def ratio_fields(prefix: str, ratio: dict | None) -> dict:
    """A paired ratio as the record's flat fields: median, range and interval (None without a peer)."""
    return {prefix: ratio["median"] if ratio else None,
            f"{prefix}_range": [ratio["min"], ratio["max"]] if ratio else None,
            f"{prefix}_ci": ratio["ci"] if ratio else None}


def timing_record(artifacts: dict[str, tuple[str, str]], sample: Path, settings: TimingSettings, eager: str,
                  peer: str | None, bundles: dict[str, str] | None = None, image: Path | None = None) -> dict:
    """results/timing.json: every variant timed side by side, with latency ratios to eager
    PyTorch fp32 (`eager`) and to ONNX Runtime fp32 (`peer`, if the config has one), paired by
    round; with a throughput batch, throughput ratios (variant over peer images per second)
    paired the same way; with `bundles` and an `image` file, each through its deploy bundle,
    also end to end. Milliseconds describe this machine; the ratios are what ranks."""
    run = time_side_by_side(artifacts, sample, settings, reference=eager, bundles=bundles, image=image)
    medians, e2e, ips, sets = (run["round_medians_ms"], run["e2e_round_medians_ms"], run["round_images_per_second"],
                               run["round_process_set"])
    variants = {}
    for v, (runtime, artifact) in artifacts.items():
        measured_ips = [x for x in ips[v] if x is not None] if ips else []
        variants[v] = {
            "runtime": runtime, "artifact": str(artifact), **round_latency(medians[v]),
            **ratio_fields("ratio_to_eager", paired_ratio(medians[v], medians[eager], sets)),
            **ratio_fields("ratio_to_onnxruntime", paired_ratio(medians[v], medians[peer], sets) if peer else None),
            "throughput_ips": round(float(np.median(measured_ips)), 2) if measured_ips else None,
            **ratio_fields("throughput_ratio_to_eager", paired_ratio(ips[v], ips[eager], sets) if ips else None),
            **ratio_fields("throughput_ratio_to_onnxruntime",
                           paired_ratio(ips[v], ips[peer], sets) if ips and peer else None),
            "round_medians_ms": [round(m, 4) for m in medians[v]],
            "round_images_per_second": [None if x is None else round(x, 2) for x in ips[v]] if ips else None,
            "bundle": bundles[v] if bundles else None,
            **(end_to_end(e2e[v], medians[v]) if e2e else {}),
            **run["per_variant"][v],
        }
    return {
        "variants": variants, "eager": eager, "onnxruntime": peer,
        "rounds": len(sets), "process_sets": len(set(sets)), "round_process_set": sets,
        "warmup": settings.warmup, "threads": settings.threads,
        "settings": asdict(settings), "e2e_image": str(image) if e2e else None,
        "bootstrap": {"seed": BOOTSTRAP_SEED, "resamples": BOOTSTRAP_RESAMPLES, "level": 0.95,
                      "of": "median of the per-round ratios, process sets then rounds resampled"},
        **{k: run[k] for k in ("load_avg", "round_foreign_cores", "round_steal_cores", "retimed_rounds", "contended",
                               "contention_reasons")},
        "env": environment(settings.threads),
    }
