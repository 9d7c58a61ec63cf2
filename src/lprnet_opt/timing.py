"""The one timing protocol of the project: batch-1 calls on a preloaded image.

`time_side_by_side` is the workflow's protocol (rule timing, and `bench --isolated`): every
variant alone in a fresh process of its own, round after round in alternating order, with
the rounds that ran beside other work found and timed again. `time_interleaved` times several
runners in one process (`bench` without --isolated, and each timing child).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .runtimes import Runner, load_runner

log = logging.getLogger(__name__)


def time_interleaved(runners: dict[str, Runner], sample: np.ndarray, warmup: int, runs: int,
                     block: int = 10, settle_s: float = 0.02) -> dict[str, np.ndarray]:
    """Per-call milliseconds for each runner: runners take turns in blocks of `block` calls.

    Call-by-call alternation made each runtime pay for the other's thread pool still spinning
    after its last call (TVM's and OpenMP's workers both spin-wait; measured: TVM speedups
    moved 17-18% between two runs). Blocks, a short settle pause between them, and one
    untimed call at the start of each block keep the pools from overlapping, while the order
    reverses every round so slow drift of the machine still hits every runner alike.
    """
    names = list(runners)
    for name in names:
        for _ in range(warmup):
            runners[name](sample)
    times = {name: [] for name in names}
    rounds = max(1, -(-runs // block))
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            time.sleep(settle_s)
            runners[name](sample)
            for _ in range(block):
                start = time.perf_counter()
                runners[name](sample)
                times[name].append((time.perf_counter() - start) * 1e3)
        if rounds >= 4 and (r + 1) % (rounds // 4) == 0:
            log.info("timing: %d/%d rounds", r + 1, rounds)
    return {name: np.array(t[:runs]) for name, t in times.items()}


def throughput(runner: Runner, images: np.ndarray, batch: int, runs: int) -> float:
    sample = np.ascontiguousarray(np.resize(images, (batch, *images.shape[1:])))
    runner(sample)
    start = time.perf_counter()
    for _ in range(runs):
        runner(sample)
    return batch * runs / (time.perf_counter() - start)


def spread(values: np.ndarray) -> dict[str, float]:
    return {k: round(float(np.percentile(values, q)), 4) for k, q in (("median", 50), ("p10", 10), ("p90", 90))}


# ---- Each variant alone in its own process, round after round (the workflow's protocol) ----

def time_in_this_process(runtime: str, artifact: str, sample: np.ndarray, threads: int, warmup: int, runs: int,
                         throughput_batch: int = 0, throughput_runs: int = 0) -> dict:
    """Load one artifact with its runtime and time it: what a timing child process does."""
    runner = load_runner(runtime, artifact, threads)
    times = time_interleaved({"v": runner}, sample, warmup, runs)["v"]
    ips = throughput(runner, sample, throughput_batch, throughput_runs) if throughput_batch else None
    # Peak RSS of a process that holds only this runtime (and torch only if the runtime is torch).
    return {"times_ms": [round(float(t), 5) for t in times], "throughput_ips": ips,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "torch_imported": "torch" in sys.modules}


def time_alone(runtime: str, artifact: str | Path, sample: Path, threads: int, warmup: int, runs: int,
               throughput_batch: int = 0, throughput_runs: int = 0) -> dict:
    """`time_in_this_process` in a fresh Python process that imports only that runtime."""
    command = [sys.executable, "-m", "lprnet_opt.timing", runtime, str(artifact), str(sample), str(threads),
               str(warmup), str(runs), str(throughput_batch), str(throughput_runs)]
    # Inductor compiles in this process, not in a pool of workers that could outlive it and
    # whose CPU time would then look like other work (ForeignLoad).
    env = {**os.environ, "TORCHINDUCTOR_COMPILE_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"timing {artifact} ({runtime}) alone failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


class ForeignLoad:
    """CPU time that processes other than this one and its children used, per wall second.

    From /proc/stat (busy and steal time of the whole machine, steal being another guest on
    the host) minus this process's and its waited-for children's CPU time. More than half a
    core of it during a round means the round was timed beside other work. Elsewhere than
    Linux it reads 0.
    """

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            busy = (sum(fields[:3]) + sum(fields[5:8])) / os.sysconf("SC_CLK_TCK")  # user..system, irq..steal
        except (OSError, ValueError, IndexError):
            busy = 0.0
        own = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                  for f in ("ru_utime", "ru_stime"))
        return time.monotonic(), busy, own

    def cores(self) -> float:
        """Foreign cores since the last call (or since creation)."""
        now = self._sample()
        (t0, busy0, own0), self.start = self.start, now
        wall = max(now[0] - t0, 1e-6)
        return max(0.0, (now[1] - busy0) - (now[2] - own0)) / wall


@dataclass(frozen=True)
class TimingSettings:
    threads: int
    warmup: int
    runs: int
    rounds: int
    round_tolerance: float  # the reference's round medians may differ this much from their median
    max_retimed_rounds: int
    foreign_load_limit: float  # cores of other work a round may see
    throughput_batch: int
    throughput_runs: int


def time_side_by_side(artifacts: dict[str, tuple[str, str]], sample: Path, settings: TimingSettings,
                      reference: str) -> dict:
    """Time every variant alone in its own process, `rounds` times in alternating order.

    `artifacts` maps a variant to (runtime, artifact). A round is disturbed when other work
    used more than `foreign_load_limit` cores during it, or when the variants ran in it, by
    their median, more than `round_tolerance` slower or faster than in the other rounds
    (`disturbed_rounds`). Disturbed rounds are timed again, the worst first, at most
    `max_retimed_rounds` times in all; what is still disturbed then makes the run
    `contended`, with the reasons.
    """
    names = list(artifacts)
    medians: dict[str, list[float]] = {v: [] for v in names}
    extra: dict[str, dict] = {}
    foreign: list[float] = []
    load_before = os.getloadavg()

    def one_round(r: int) -> tuple[dict[str, float], float]:
        monitor, row = ForeignLoad(), {}
        for v in names if r % 2 == 0 else names[::-1]:
            first = v not in extra
            result = time_alone(*artifacts[v], sample, settings.threads, settings.warmup, settings.runs,
                                settings.throughput_batch if first else 0, settings.throughput_runs if first else 0)
            row[v] = float(np.median(result["times_ms"]))
            if first:
                extra[v] = {"peak_rss_mb": round(result["peak_rss_mb"], 1), "throughput_ips": result["throughput_ips"],
                            "torch_imported": result["torch_imported"]}
        return row, monitor.cores()

    for r in range(settings.rounds):
        row, cores = one_round(r)
        for v in names:
            medians[v].append(row[v])
        foreign.append(round(cores, 3))
        log.info("timing round %d/%d: %s=%.3f ms, foreign load %.2f cores", r + 1, settings.rounds, reference,
                 row[reference], cores)
    retimed = 0
    while True:
        disturbed = disturbed_rounds(medians, foreign, settings)
        if not disturbed or retimed >= settings.max_retimed_rounds:
            break
        r = max(disturbed, key=lambda i: disturbed[i][0])
        log.info("timing round %d again: %s", r + 1, disturbed[r][1])
        row, cores = one_round(r)
        for v in names:
            medians[v][r] = row[v]
        foreign[r] = round(cores, 3)
        retimed += 1
    reasons = [f"round {r + 1}: {why}" for r, (_, why) in disturbed_rounds(medians, foreign, settings).items()]
    return {"round_medians_ms": medians, "per_variant": extra, "round_foreign_cores": foreign,
            "retimed_rounds": retimed, "contended": bool(reasons), "contention_reasons": reasons,
            "load_avg": {"before": [round(x, 2) for x in load_before],
                         "after": [round(x, 2) for x in os.getloadavg()]}}


def disturbed_rounds(medians: dict[str, list[float]], foreign: list[float],
                     settings: TimingSettings) -> dict[int, tuple[float, str]]:
    """Rounds timed beside other work, or in which the variants ran off their usual speed.

    A round's drift is the median, over variants, of each variant's median in that round
    against its median over the other rounds: other work slows every variant in a round. One
    runtime alone is no yardstick: on an idle machine (0.00 foreign cores) eager PyTorch's
    medians ranged 3.65-5.73 ms across fresh processes (docs/performance.md). Returns, per
    disturbed round, a severity (to retime the worst first) and the reason.
    """
    found = {}
    rounds = len(foreign)
    for r, cores in enumerate(foreign):
        drift = float(np.median([
            m[r] / float(np.median([x for i, x in enumerate(m) if i != r])) for m in medians.values()
        ])) - 1 if rounds > 1 else 0.0
        if cores > settings.foreign_load_limit:
            found[r] = (cores, f"{cores:.2f} cores used by other processes (limit {settings.foreign_load_limit})")
        elif abs(drift) > settings.round_tolerance:
            found[r] = (abs(drift), f"variants ran {drift:+.0%} off their speed in the other rounds "
                                    f"(median over variants; tolerance {settings.round_tolerance:.0%})")
    return found


def round_latency(medians: list[float]) -> dict[str, float]:
    """A variant's latency from its round medians: their median, range and relative spread."""
    latency = np.array(medians)
    middle = float(np.median(latency))
    return {"latency_ms": round(middle, 4), "latency_round_min_ms": round(float(latency.min()), 4),
            "latency_round_max_ms": round(float(latency.max()), 4),
            "latency_round_spread": round(float(latency.max() - latency.min()) / middle, 4)}


def paired_ratio(variant: list[float], reference: list[float]) -> dict[str, float]:
    """Median, min and max over rounds of variant / reference latency, paired by round."""
    ratios = np.array(variant) / np.array(reference)
    return {"median": round(float(np.median(ratios)), 4), "min": round(float(ratios.min()), 4),
            "max": round(float(ratios.max()), 4)}


def timing_record(artifacts: dict[str, tuple[str, str]], sample: Path, settings: TimingSettings, eager: str,
                  peer: str | None) -> dict:
    """results/timing.json: every variant timed side by side, with latency ratios to eager
    PyTorch fp32 (`eager`) and to ONNX Runtime fp32 (`peer`, if the config has one)."""
    from dataclasses import asdict

    from .environment import environment

    run = time_side_by_side(artifacts, sample, settings, reference=eager)
    medians = run["round_medians_ms"]
    variants = {}
    for v, (runtime, artifact) in artifacts.items():
        to_eager = paired_ratio(medians[v], medians[eager])
        to_peer = paired_ratio(medians[v], medians[peer]) if peer else None
        variants[v] = {
            "runtime": runtime, "artifact": str(artifact), **round_latency(medians[v]),
            "ratio_to_eager": to_eager["median"], "ratio_to_eager_range": [to_eager["min"], to_eager["max"]],
            "ratio_to_onnxruntime": to_peer["median"] if to_peer else None,
            "ratio_to_onnxruntime_range": [to_peer["min"], to_peer["max"]] if to_peer else None,
            "round_medians_ms": [round(m, 4) for m in medians[v]],
            **run["per_variant"][v],
        }
    return {
        "variants": variants, "eager": eager, "onnxruntime": peer,
        "rounds": settings.rounds, "runs": settings.runs, "warmup": settings.warmup, "threads": settings.threads,
        "settings": asdict(settings),
        **{k: run[k] for k in ("load_avg", "round_foreign_cores", "retimed_rounds", "contended", "contention_reasons")},
        "env": environment(settings.threads),
    }


if __name__ == "__main__":
    # A timing child: python -m lprnet_opt.timing RUNTIME ARTIFACT SAMPLE.npy THREADS WARMUP RUNS TB TR
    runtime_, artifact_, sample_, *numbers = sys.argv[1:]
    threads_, warmup_, runs_, batch_, batches_ = (int(n) for n in numbers)
    print(json.dumps(time_in_this_process(runtime_, artifact_, np.load(sample_), threads_, warmup_, runs_,
                                          batch_, batches_)))
