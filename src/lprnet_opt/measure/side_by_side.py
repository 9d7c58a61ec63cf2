"""The workflow's timing protocol (rule timing, `bench --isolated`): every variant alone in a
process of its own, all of a round's processes taking turns in short blocks, round after round
in alternating order; rounds that ran beside other work are found and timed again.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .contention import ForeignLoad, disturbed_rounds
from .environment import environment
from .stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_median_interval
from .timing import BUNDLE, COMPILING, start_loaded, time_processes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimingSettings:
    threads: int
    warmup: int
    runs: int
    rounds: int
    round_tolerance: float  # how far the variants, by their median, may run off their speed in other rounds
    max_retimed_rounds: int
    foreign_load_limit: float  # cores of other work a round may see
    throughput_batch: int
    throughput_runs: int
    # Timed calls per variant per round of the bundle's predict() on one image file (end to end).
    e2e_runs: int = 50


def time_side_by_side(artifacts: dict[str, tuple[str, str]], sample: Path, settings: TimingSettings,
                      reference: str, bundles: dict[str, str] | None = None, image: Path | None = None) -> dict:
    """Time every variant in a process of its own, the processes of a round taking turns in
    blocks (`timing.time_processes`); `rounds` rounds, each with new processes, in alternating order.

    With `bundles` (variant: deploy bundle folder), each process runs the bundle's predict.py
    instead of the runtime module (the same loader code, deploy/predict_source.py), and with an
    `image` file each round also times `predict` on it, end to end, in the same turns.

    `artifacts` maps a variant to (runtime, artifact). A round is disturbed when other work
    used more than `foreign_load_limit` cores during it, or when the variants ran in it, by
    their median, more than `round_tolerance` slower or faster than in the other rounds
    (`disturbed_rounds`). Disturbed rounds are timed again, the worst first, at most
    `max_retimed_rounds` times in all; what is still disturbed then makes the run
    `contended`, with the reasons.
    """
    names = list(artifacts)
    medians: dict[str, list[float]] = {v: [] for v in names}
    calls: dict[str, list[list[float]]] = {v: [] for v in names}  # per round, every timed call
    e2e: dict[str, list[float]] = {v: [] for v in names}  # per round, the end-to-end median
    extra: dict[str, dict] = {}
    foreign: list[float] = []
    load_before = os.getloadavg()

    def one_round(r: int) -> tuple[dict[str, list[float]], dict[str, list[float]], float]:
        monitor, processes = ForeignLoad(), {}
        try:
            # Loading and warm-up are not timed, so a round's processes do them side by side,
            # as many at once as the machine has cores (`start_loaded`): one at a time took
            # 96 s a round for 14 variants of the tiny test workflow, all at once 63 s (AMD
            # EPYC, 2 cores). Timing starts once every process is ready and the machine is quiet.
            turns = names if r % 2 == 0 else names[::-1]
            specs = {v: {"runtime": BUNDLE if bundles else artifacts[v][0],
                         "artifact": bundles[v] if bundles else artifacts[v][1], "sample": sample,
                         "threads": settings.threads, "warmup": settings.warmup, "image": image if bundles else None}
                     for v in sorted(turns, key=lambda v: artifacts[v][0].partition("@")[0] not in COMPILING)}
            loaded = start_loaded(specs, os.cpu_count() or 1)
            processes = {v: loaded[v] for v in turns}
            for process in processes.values():
                process.wait_quiet()
            times, ends = time_processes(processes, settings.runs, e2e_runs=settings.e2e_runs if bundles and image else 0)
            for v, process in processes.items():
                first = v not in extra
                result = process.finish(settings.throughput_batch if first else 0,
                                        settings.throughput_runs if first else 0)
                if first:
                    extra[v] = {"peak_rss_mb": round(result["peak_rss_mb"], 1),
                                "throughput_ips": result["throughput_ips"], "torch_imported": result["torch_imported"],
                                "precision": result["precision"]}
        finally:
            for process in processes.values():
                process.kill()
        return times, ends, monitor.cores()

    for r in range(settings.rounds):
        times, ends, cores = one_round(r)
        for v in names:
            medians[v].append(float(np.median(times[v])))
            calls[v].append(times[v])
            if ends[v]:
                e2e[v].append(float(np.median(ends[v])))
        foreign.append(round(cores, 3))
        log.info("timing round %d/%d: %s=%.3f ms, foreign load %.2f cores", r + 1, settings.rounds, reference,
                 medians[reference][r], cores)
    retimed = 0
    while True:
        disturbed = disturbed_rounds(medians, foreign, settings)
        if not disturbed or retimed >= settings.max_retimed_rounds:
            break
        r = max(disturbed, key=lambda i: disturbed[i][0])
        log.info("timing round %d again: %s", r + 1, disturbed[r][1])
        times, ends, cores = one_round(r)
        for v in names:
            medians[v][r], calls[v][r] = float(np.median(times[v])), times[v]
            if ends[v]:
                e2e[v][r] = float(np.median(ends[v]))
        foreign[r] = round(cores, 3)
        retimed += 1
    reasons = [f"round {r + 1}: {why}" for r, (_, why) in disturbed_rounds(medians, foreign, settings).items()]
    for v in names:  # the spread of single calls, over every round kept
        pooled = np.concatenate(calls[v])
        extra[v].update(latency_p10_ms=round(float(np.percentile(pooled, 10)), 4),
                        latency_p90_ms=round(float(np.percentile(pooled, 90)), 4))
    return {"round_medians_ms": medians, "e2e_round_medians_ms": e2e if any(e2e.values()) else None,
            "per_variant": extra, "round_foreign_cores": foreign,
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


def paired_ratio(variant: list[float], reference: list[float]) -> dict:
    """Median, min and max over rounds of variant / reference latency, paired by round, and
    a bootstrap 95% interval of that median (fixed seed: the same rounds give the same interval)."""
    ratios = np.array(variant) / np.array(reference)
    low, high = bootstrap_median_interval(ratios)
    return {"median": round(float(np.median(ratios)), 4), "min": round(float(ratios.min()), 4),
            "max": round(float(ratios.max()), 4), "ci": [round(low, 4), round(high, 4)]}


def end_to_end(e2e: list[float], inference: list[float]) -> dict:
    """The bundle's predict() on one image file against inference alone, paired by round:
    what reading, preprocessing and decoding add per plate (median, min, max over rounds)."""
    added = np.array(e2e) - np.array(inference)
    return {"e2e_latency_ms": round(float(np.median(e2e)), 4), "e2e_round_medians_ms": [round(m, 4) for m in e2e],
            "e2e_added_ms": round(float(np.median(added)), 4),
            "e2e_added_range_ms": [round(float(added.min()), 4), round(float(added.max()), 4)]}


def timing_record(artifacts: dict[str, tuple[str, str]], sample: Path, settings: TimingSettings, eager: str,
                  peer: str | None, bundles: dict[str, str] | None = None, image: Path | None = None) -> dict:
    """results/timing.json: every variant timed side by side, with latency ratios to eager
    PyTorch fp32 (`eager`) and to ONNX Runtime fp32 (`peer`, if the config has one); with
    `bundles` and an `image` file, each through its deploy bundle, also end to end."""
    run = time_side_by_side(artifacts, sample, settings, reference=eager, bundles=bundles, image=image)
    medians, e2e = run["round_medians_ms"], run["e2e_round_medians_ms"]
    variants = {}
    for v, (runtime, artifact) in artifacts.items():
        to_eager = paired_ratio(medians[v], medians[eager])
        to_peer = paired_ratio(medians[v], medians[peer]) if peer else None
        variants[v] = {
            "runtime": runtime, "artifact": str(artifact), **round_latency(medians[v]),
            "ratio_to_eager": to_eager["median"], "ratio_to_eager_range": [to_eager["min"], to_eager["max"]],
            "ratio_to_eager_ci": to_eager["ci"],
            "ratio_to_onnxruntime": to_peer["median"] if to_peer else None,
            "ratio_to_onnxruntime_range": [to_peer["min"], to_peer["max"]] if to_peer else None,
            "ratio_to_onnxruntime_ci": to_peer["ci"] if to_peer else None,
            "round_medians_ms": [round(m, 4) for m in medians[v]],
            "bundle": bundles[v] if bundles else None,
            **(end_to_end(e2e[v], medians[v]) if e2e else {}),
            **run["per_variant"][v],
        }
    return {
        "variants": variants, "eager": eager, "onnxruntime": peer,
        "rounds": settings.rounds, "runs": settings.runs, "warmup": settings.warmup, "threads": settings.threads,
        "settings": asdict(settings), "e2e_image": str(image) if e2e else None,
        "bootstrap": {"seed": BOOTSTRAP_SEED, "resamples": BOOTSTRAP_RESAMPLES, "level": 0.95,
                      "of": "median of the per-round ratios"},
        **{k: run[k] for k in ("load_avg", "round_foreign_cores", "retimed_rounds", "contended", "contention_reasons")},
        "env": environment(settings.threads),
    }
