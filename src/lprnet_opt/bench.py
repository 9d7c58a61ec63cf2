"""Side-by-side batch-1 timing of built variants: python -m lprnet_opt.bench.

Every variant is timed in short blocks, interleaved with the others, on one preloaded image,
so the ratios come from the same run. Artifacts are found through results/eval/*.json.
With --isolated, each variant instead runs alone in its own process, round after round.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .geometry import IMAGE_HEIGHT, IMAGE_WIDTH
from .record import EvalRecord, read_record
from .report.page import markdown_table
from .runtimes import Runner, load_runner, load_spec, runtime_spec
from .measure.side_by_side import TimingSettings, paired_ratio, round_latency, time_side_by_side
from .measure.timing import spread, time_interleaved


def random_images(count: int) -> np.ndarray:
    """Fixed-seed inputs in the normalised pixel range [-1, 1], the same for every runtime."""
    return np.random.default_rng(0).uniform(-1, 1, (count, 3, IMAGE_HEIGHT, IMAGE_WIDTH)).astype(np.float32)


def load_built(results: Path, variant: str, threads: int) -> tuple[EvalRecord, Runner]:
    """A built variant's eval record and its artifact loaded by its runtime."""
    record = read_record(results / "eval" / f"{variant}.json")
    return record, load_spec(runtime_spec(record.runtime, record.precision.get("requested", "f32")), record.artifact,
                             threads)


def bench(results: Path, variants: list[str], threads: int, warmup: int, runs: int) -> list[dict]:
    built = {v: load_built(results, v, threads) for v in variants}
    records = {v: record for v, (record, _) in built.items()}
    runners = {v: runner for v, (_, runner) in built.items()}
    times = time_interleaved(runners, random_images(1), warmup, runs)
    reference = times[variants[0]]
    rows = []
    for v in variants:
        latency, ratio = spread(times[v]), spread(reference / times[v])
        rows.append({"variant": v, "kind": records[v].kind, "latency_ms": latency["median"],
                     "p10": latency["p10"], "p90": latency["p90"], f"speedup_vs_{variants[0]}": ratio["median"],
                     "speedup_p10": ratio["p10"], "speedup_p90": ratio["p90"], "accuracy": records[v].accuracy})
    return rows


def built_artifact(results: Path, spec: str) -> tuple[str, tuple[str, str]]:
    """`variant` (its eval record names runtime, precision and artifact) or `name=runtime:path` (any
    artifact, e.g. two TVM libraries tuned differently; `openvino_runtime@bf16:path` in bf16), as
    (name, (runtime spec, path))."""
    if "=" in spec:
        name, _, target = spec.partition("=")
        runtime, _, path = target.partition(":")
        if not (name and runtime and path) or not Path(path).exists():
            raise SystemExit(f"bench: {spec!r}: expected name=runtime:path to an existing artifact")
        return name, (runtime, path)
    record = read_record(results / "eval" / f"{spec}.json")
    return spec, (runtime_spec(record.runtime, record.precision.get("requested", "f32")), record.artifact)


def bench_isolated(results: Path, variants: list[str], threads: int, warmup: int, rounds: int,
                   process_sets: int = 2, block_ms: float = 40.0) -> tuple[list[dict], dict]:
    """Each variant alone in its own process, `rounds` rounds in alternating order over
    `process_sets` fresh sets of processes: the timing stage's protocol
    (`side_by_side.time_side_by_side`), with the first variant as the reference.

    In one process, TVM's worker threads still spin after its last call and slowed ONNX
    Runtime's next calls (its p90 reached 6.1 ms, docs/timing-protocol.md); alone, no runtime's
    threads meet another's. Returns the rows and the run (with its contention verdict).
    """
    built = dict(built_artifact(results, spec) for spec in variants)
    variants = list(built)
    settings = TimingSettings(threads=threads, warmup=warmup, process_sets=process_sets, rounds=rounds,
                              block_ms=block_ms, foreign_load_limit=0.5, max_retimed_rounds=rounds, throughput_batch=0)
    with tempfile.TemporaryDirectory() as scratch:
        sample = Path(scratch) / "sample.npy"
        np.save(sample, random_images(1))
        run = time_side_by_side(built, sample, settings, reference=variants[0])
    medians, sets = run["round_medians_ms"], run["round_process_set"]
    # Each variant is also compared with the first listed variant of its own runtime (a pruned
    # model against the dense one in the same runtime), paired by round like the reference.
    first_of_runtime: dict[str, str] = {}
    for v, (runtime, _) in built.items():
        first_of_runtime.setdefault(runtime, v)
    rows = []
    for v in variants:
        latency, ratio = round_latency(medians[v]), paired_ratio(medians[v], medians[variants[0]], sets)
        same = first_of_runtime[built[v][0]]
        to_same = paired_ratio(medians[v], medians[same], sets)
        rows.append({"variant": v, "latency_ms": latency["latency_ms"], "round_min": latency["latency_round_min_ms"],
                     "round_max": latency["latency_round_max_ms"], f"ratio_to_{variants[0]}": ratio["median"],
                     "ratio_min": ratio["min"], "ratio_max": ratio["max"], "ratio_ci_low": ratio["ci"][0],
                     "ratio_ci_high": ratio["ci"][1], "runtime": built[v][0],
                     "same_runtime_reference": same, "ratio_to_same_runtime": to_same["median"],
                     "same_runtime_ci_low": to_same["ci"][0], "same_runtime_ci_high": to_same["ci"][1]})
    return rows, run


def subnormal_effect(checkpoint: Path, threads: int, warmup: int, runs: int) -> list[dict]:
    """Eager PyTorch on a checkpoint as stored against its subnormal weights flushed.

    Eager only: the ONNX and TVM exports fold BatchNorm, which flushes in both cases.
    """
    from .checkpoint import load_model
    from .model import predict_logits
    from .runtimes.eager import torch_runner

    models = {"stored": load_model(checkpoint, flush=False), "flushed": load_model(checkpoint)}
    images = random_images(64)
    diff = float(np.abs(predict_logits(models["stored"], images) - predict_logits(models["flushed"], images)).max())
    times = time_interleaved({name: torch_runner(m, threads) for name, m in models.items()}, images[:1], warmup, runs)
    rows = []
    for name, t in times.items():
        latency = spread(t)
        rows.append({"eager": name, "latency_ms": latency["median"], "p10": latency["p10"], "p90": latency["p90"],
                     "speedup_vs_stored": spread(times["stored"] / t)["median"], "max_abs_logit_diff_vs_stored": diff})
    return rows


def kernel_profile(database: Path, library: Path | None, threads: int, warmup: int, runs: int) -> list[dict]:
    """Per-kernel times of the tuned graph in `database` (this host's target), largest first;
    with `library`, a last row times that whole library in the same process."""
    from .tvm.profile import kernel_times
    from .tvm_setup import host_target, import_tvm

    import_tvm(threads)
    rows = kernel_times(host_target(threads), database)
    rows.append({"kernel": "sum of kernels", "calls": sum(r["calls"] for r in rows),
                 "ms_per_inference": round(sum(r["ms_per_inference"] for r in rows), 4),
                 "ms_in_sequence": round(sum(r["ms_in_sequence"] for r in rows), 4)})
    if library:
        whole = time_interleaved({"library": load_runner("tvm_vm", library, threads)}, random_images(1), warmup, runs)["library"]
        rows.append({"kernel": f"whole call ({library})", "ms_per_inference": round(spread(whole)["median"], 4)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", help="variant names; the first is the reference (with --isolated, "
                        "each is also compared with the first listed variant of its runtime, and name=runtime:path "
                        "times any artifact, e.g. mlc_seeded=tvm_vm:results/tvm/mlc/model.so)")
    parser.add_argument("--subnormals", type=Path, metavar="CHECKPOINT",
                        help="instead: time a checkpoint as stored against its subnormal weights flushed")
    parser.add_argument("--kernels", type=Path, metavar="DATABASE",
                        help="instead: per-kernel times of the graph tuned in this database folder")
    parser.add_argument("--library", type=Path, help="with --kernels: also time this whole .so")
    parser.add_argument("--isolated", type=int, metavar="ROUNDS",
                        help="time each variant alone in its own process, ROUNDS rounds in alternating order "
                        "(the timing stage's protocol)")
    parser.add_argument("--sets", type=int, default=2, help="with --isolated: fresh sets of processes")
    parser.add_argument("--block-ms", type=float, default=40.0,
                        help="with --isolated: target duration of a variant's block in a round")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    if args.subnormals:
        rows = pd.DataFrame(subnormal_effect(args.subnormals, args.threads, args.warmup, args.runs))
    elif args.kernels:
        rows = pd.DataFrame(kernel_profile(args.kernels, args.library, args.threads, args.warmup, args.runs))
    elif args.variants and args.isolated:
        found, run = bench_isolated(args.results, args.variants, args.threads, args.warmup, args.isolated, args.sets,
                                    args.block_ms)
        rows = pd.DataFrame(found)
        if run["contended"]:
            print("CONTENDED, not a valid comparison: " + "; ".join(run["contention_reasons"]))
    elif args.variants:
        rows = pd.DataFrame(bench(args.results, args.variants, args.threads, args.warmup, args.runs))
    else:
        parser.error("name at least one variant, or give --subnormals CHECKPOINT or --kernels DATABASE")
    print(markdown_table(rows, list(rows.columns)), end="")


if __name__ == "__main__":
    main()
