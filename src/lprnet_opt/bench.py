"""Side-by-side batch-1 timing of built variants in one process: python -m lprnet_opt.bench.

Every variant is timed in short blocks, interleaved with the others, on one preloaded image,
so the ratios come from the same run. Artifacts are found through results/eval/*.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from .measure import spread, time_interleaved
from .model import IMAGE_HEIGHT, IMAGE_WIDTH
from .report import markdown_table
from .runners import load_runner, set_threads
from .workflow import read_json


def random_images(count: int) -> np.ndarray:
    """Fixed-seed inputs in the normalised pixel range [-1, 1], the same for every runtime."""
    return np.random.default_rng(0).uniform(-1, 1, (count, 3, IMAGE_HEIGHT, IMAGE_WIDTH)).astype(np.float32)


def bench(results: Path, variants: list[str], threads: int, warmup: int, runs: int) -> list[dict]:
    set_threads(threads)
    records = {v: read_json(results / "eval" / f"{v}.json") for v in variants}
    runners = {v: load_runner(r["kind"], r["artifact"]) for v, r in records.items()}
    times = time_interleaved(runners, random_images(1), warmup, runs)
    reference = times[variants[0]]
    rows = []
    for v in variants:
        latency, ratio = spread(times[v]), spread(reference / times[v])
        rows.append({"variant": v, "kind": records[v]["kind"], "latency_ms": latency["median"],
                     "p10": latency["p10"], "p90": latency["p90"], f"speedup_vs_{variants[0]}": ratio["median"],
                     "speedup_p10": ratio["p10"], "speedup_p90": ratio["p90"], "accuracy": records[v]["accuracy"]})
    return rows


def subnormal_effect(checkpoint: Path, threads: int, warmup: int, runs: int) -> list[dict]:
    """Eager PyTorch on a checkpoint as stored against its subnormal weights flushed.

    Eager only: the ONNX and TVM exports fold BatchNorm, which flushes in both cases.
    """
    from .model import load_lprnet, predict_logits
    from .runners import torch_runner

    set_threads(threads)
    models = {"stored": load_lprnet(checkpoint, flush=False), "flushed": load_lprnet(checkpoint)}
    images = random_images(64)
    diff = float(np.abs(predict_logits(models["stored"], images) - predict_logits(models["flushed"], images)).max())
    times = time_interleaved({name: torch_runner(m) for name, m in models.items()}, images[:1], warmup, runs)
    rows = []
    for name, t in times.items():
        latency = spread(t)
        rows.append({"eager": name, "latency_ms": latency["median"], "p10": latency["p10"], "p90": latency["p90"],
                     "speedup_vs_stored": spread(times["stored"] / t)["median"], "max_abs_logit_diff_vs_stored": diff})
    return rows


def kernel_profile(database: Path, library: Path | None, threads: int, warmup: int, runs: int) -> list[dict]:
    """Per-kernel times of the tuned graph in `database` (this host's target), largest first;
    with `library`, a last row times that whole library in the same process."""
    from .tvm_profile import kernel_times
    from .tvm_setup import host_target

    set_threads(threads)
    rows = kernel_times(host_target(threads), database)
    rows.append({"kernel": "sum of kernels", "calls": sum(r["calls"] for r in rows),
                 "ms_per_inference": round(sum(r["ms_per_inference"] for r in rows), 4)})
    if library:
        whole = time_interleaved({"library": load_runner("tvm", library)}, random_images(1), warmup, runs)["library"]
        rows.append({"kernel": f"whole call ({library})", "ms_per_inference": round(spread(whole)["median"], 4)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", help="variant names; the first is the reference")
    parser.add_argument("--subnormals", type=Path, metavar="CHECKPOINT",
                        help="instead: time a checkpoint as stored against its subnormal weights flushed")
    parser.add_argument("--kernels", type=Path, metavar="DATABASE",
                        help="instead: per-kernel times of the graph tuned in this database folder")
    parser.add_argument("--library", type=Path, help="with --kernels: also time this whole .so")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    if args.subnormals:
        rows = pd.DataFrame(subnormal_effect(args.subnormals, args.threads, args.warmup, args.runs))
    elif args.kernels:
        rows = pd.DataFrame(kernel_profile(args.kernels, args.library, args.threads, args.warmup, args.runs))
    elif args.variants:
        rows = pd.DataFrame(bench(args.results, args.variants, args.threads, args.warmup, args.runs))
    else:
        parser.error("name at least one variant, or give --subnormals CHECKPOINT or --kernels DATABASE")
    print(markdown_table(rows, list(rows.columns)), end="")


if __name__ == "__main__":
    main()
