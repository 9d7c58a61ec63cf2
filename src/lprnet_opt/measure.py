"""The one measurement harness: accuracy, agreement, size, latency, throughput, peak RSS, env.

Latency is timed at batch 1 on preloaded tensors (no data loading), interleaved in short blocks
with the baseline in the same process, so `speedup_vs_baseline` is a same-run ratio.
"""

from __future__ import annotations

import gzip
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from .chars import greedy_decode
from .metrics import agreement, char_accuracy, plate_accuracy
from .runners import Runner, load_runner, run_batched, set_threads

log = logging.getLogger(__name__)


def size_on_disk(path: str | Path) -> tuple[int, int]:
    """Raw and gzip-compressed bytes of a file, or of all files in a folder."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    raw = sum(p.stat().st_size for p in files)
    packed = sum(len(gzip.compress(p.read_bytes(), compresslevel=9)) for p in files)
    return raw, packed


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


def peak_rss_mb(kind: str, path: str | Path, images: np.ndarray, threads: int) -> float:
    """Peak resident memory of a fresh process that loads the artifact and runs one batch."""
    with tempfile.TemporaryDirectory() as tmp:
        batch = Path(tmp) / "batch.npy"
        np.save(batch, images)
        out = subprocess.run(
            [sys.executable, "-m", "lprnet_opt.measure", kind, str(path), str(batch), str(threads)],
            capture_output=True, text=True, check=False,
        )
    if out.returncode != 0:
        raise RuntimeError(f"peak RSS probe of {path} failed: {out.stderr.strip().splitlines()[-1:]}")
    return round(float(out.stdout.strip().splitlines()[-1]), 1)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment(threads: int) -> dict:
    import psutil

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "threads": threads,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "tvm": version("apache-tvm"),
        "onnxruntime": version("onnxruntime"),
        "openvino": version("openvino"),
    }


def spread(values: np.ndarray) -> dict[str, float]:
    return {k: round(float(np.percentile(values, q)), 4) for k, q in (("median", 50), ("p10", 10), ("p90", 90))}


def predict_plates(runner: Runner, images: np.ndarray, label: str, batch_size: int = 1) -> tuple[np.ndarray, list[str]]:
    """Logits and plates for every image; batch 1, the deployment setting, for every variant."""
    start = time.perf_counter()
    logits = run_batched(runner, images, batch_size)
    log.info("%s: predicted %d images in %.1fs", label, len(images), time.perf_counter() - start)
    return logits, greedy_decode(logits)


# The fp32 references (source and baseline) run in eager PyTorch, where the model is
# batch-invariant (tests/test_model.py), so they are batched: same answers, 5-10x less time.
REFERENCE_BATCH = 64


def measure_variant(
    variant: str,
    kind: str,
    artifact: str | Path,
    source_weights: str | Path,
    baseline_weights: str | Path,
    images: np.ndarray,
    labels: list[str],
    threads: int,
    settings: dict,
) -> dict:
    """Measure one variant against the baseline in one process; returns the eval JSON record."""
    set_threads(threads)
    runner = load_runner(kind, artifact)
    baseline = load_runner("baseline", baseline_weights)
    logits, plates = predict_plates(runner, images, variant)
    # Skip passes that would repeat one already made (the baseline is its own source).
    same = Path(artifact).resolve()
    source_logits, source_plates = (
        (logits, plates) if Path(source_weights).resolve() == same
        else predict_plates(load_runner("baseline", source_weights), images, "source", REFERENCE_BATCH)
    )
    baseline_plates = (
        source_plates if Path(baseline_weights).resolve() == Path(source_weights).resolve()
        else predict_plates(baseline, images, "baseline", REFERENCE_BATCH)[1]
    )
    times = time_interleaved({"variant": runner, "baseline": baseline}, images[:1],
                             settings["warmup"], settings["runs"])
    ratios = times["baseline"] / times["variant"]
    latency, base_latency, speedup = spread(times["variant"]), spread(times["baseline"]), spread(ratios)
    raw, packed = size_on_disk(artifact)
    return {
        "variant": variant,
        "kind": kind,
        "artifact": str(artifact),
        "accuracy": plate_accuracy(plates, labels),
        "char_accuracy": char_accuracy(plates, labels),
        "agreement": agreement(plates, baseline_plates),
        "agreement_with_source": agreement(plates, source_plates),
        "max_abs_logit_diff_vs_source": float(np.abs(logits - source_logits).max()),
        "n_images": len(labels),
        "size_bytes": raw,
        "size_gzip_bytes": packed,
        "latency_ms": latency["median"],
        "latency_ms_p10": latency["p10"],
        "latency_ms_p90": latency["p90"],
        "baseline_latency_ms": base_latency["median"],
        "speedup_vs_baseline": speedup["median"],
        "speedup_p10": speedup["p10"],
        "speedup_p90": speedup["p90"],
        "timing_runs": settings["runs"],
        "throughput_batch": settings["throughput_batch"],
        "throughput_ips": round(throughput(runner, images, settings["throughput_batch"], settings["throughput_runs"]), 1),
        "peak_rss_mb": peak_rss_mb(kind, artifact, images[: settings["throughput_batch"]], threads),
        "threads": threads,
        "env": environment(threads),
    }


if __name__ == "__main__":
    # The RSS probe: python -m lprnet_opt.measure KIND ARTIFACT BATCH.npy THREADS
    probe_kind, probe_path, probe_batch, probe_threads = sys.argv[1:5]
    set_threads(int(probe_threads))
    load_runner(probe_kind, probe_path)(np.load(probe_batch))
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
