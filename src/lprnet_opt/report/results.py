"""The report's numbers: one row per eval record joined with the timing stage and its judge-plate
drop, each variant against the baseline on the same plates (the choice: report/goal.py).

Nothing here knows the variant list: every results/eval/*.json becomes a row, joined with its
entry in results/timing.json. A contended timing run leaves every latency cell empty.
"""

from __future__ import annotations

import math

import pandas as pd

from ..kinds import snippet_of
from ..record import SCALAR_FIELDS, read_record
from ..measure.stats import ALPHA, difference_in_words, is_significant_loss, paired_difference_interval

# Per-variant fields of results/timing.json that become columns.
TIMING_FIELDS = ["latency_ms", "latency_p10_ms", "latency_p90_ms", "latency_round_spread", "ratio_to_eager",
                 "ratio_to_onnxruntime", "throughput_ips", "throughput_ratio_to_onnxruntime", "e2e_latency_ms",
                 "e2e_added_ms", "peak_rss_mb"]
# Paired ratios whose bootstrap intervals become `<field>_ci_low` and `<field>_ci_high` columns.
RATIO_FIELDS = ["ratio_to_onnxruntime", "throughput_ratio_to_onnxruntime"]
# Cells that a contended timing run empties.
LATENCY_FIELDS = [*(f for f in TIMING_FIELDS if f != "peak_rss_mb"), "speedup_vs_eager", "speedup_ci_low",
                  "speedup_ci_high", "rank_ratio", *(f"{f}_ci_{e}" for f in RATIO_FIELDS for e in ("low", "high"))]

def load_results(paths, timing: dict, bundles: dict[str, dict] | None = None,
                 judged: dict[str, dict] | None = None) -> pd.DataFrame:
    """One row per eval record (record.EvalRecord) with its timing, its deploy bundle
    (`bundles`: variant to bundle.json, for the bundle's folder and sizes) and its drop on the
    judge plates (`judged`: report.goal.judge_drops), fastest first.

    Adds the drop against the baseline in points and its description in words; the paired
    counts and p-value come from the record (`measure` computed them on the same plates).
    """
    rows = []
    for record in (read_record(p) for p in paths):
        row = {name: getattr(record, name) for name in SCALAR_FIELDS}
        timed = timing["variants"].get(record.variant)
        if timed is None:
            raise ValueError(f"results/timing.json has no entry for variant {record.variant!r}; rerun rule timing")
        row.update({name: timed.get(name) for name in TIMING_FIELDS})
        low, high = timed["ratio_to_eager_ci"]
        row.update(speedup_vs_eager=1 / timed["ratio_to_eager"], speedup_ci_low=1 / high, speedup_ci_high=1 / low)
        for field in RATIO_FIELDS:
            low, high = timed.get(f"{field}_ci") or [math.nan, math.nan]
            row.update({f"{field}_ci_low": low, f"{field}_ci_high": high})
        # What ranks speed: the paired latency ratio to ONNX Runtime fp32, to eager without it.
        row["rank_ratio"] = timed["ratio_to_onnxruntime"] if timing.get("onnxruntime") else timed["ratio_to_eager"]
        bundle = (bundles or {}).get(record.variant)
        row.update(bundle=timed.get("bundle"),
                   bundle_mb=(bundle["artifact_bytes"] + bundle["code_bytes"]) / 1e6 if bundle else math.nan,
                   requirements_mb=bundle["requirements_installed_bytes"] / 1e6 if bundle else math.nan)
        row["build"] = record.build
        # The precision asked for and the one the runtime read back (f32 for fixed-precision runtimes).
        row["precision"] = record.precision.get("requested", "f32")
        row["precision_ran"] = precision_ran(record.precision)
        judge = (judged or {}).get(record.variant)
        row.update(judge_drop_pt=judge["drop_pt"] if judge else math.nan,
                   judge_ci_low=judge["drop_ci_pt"][0] if judge else math.nan,
                   judge_ci_high=judge["drop_ci_pt"][1] if judge else math.nan)
        low, high = paired_difference_interval(record.plates_lost, record.plates_gained, record.n_images)
        row.update(drop_ci_low=100 * low, drop_ci_high=100 * high)
        rows.append(row)
    frame = pd.DataFrame(rows)
    baselines = frame[frame["kind"] == "baseline"]
    if baselines.empty:
        raise ValueError("no eval record of kind 'baseline': every comparison is against it")
    base = baselines.iloc[0]
    frame["drop_pt"] = (base["accuracy"] - frame["accuracy"]) * 100
    frame["significant_loss"] = [is_significant_loss(r.plates_lost, r.plates_gained, r.mcnemar_p)
                                 for r in frame.itertuples()]
    frame["vs_baseline"] = [difference_in_words(r.accuracy, base["accuracy"], r.plates_gained, r.plates_lost,
                                                r.mcnemar_p, r.n_images) for r in frame.itertuples()]
    frame["size_mb"] = frame["size_bytes"] / 1e6
    frame["timing_contended"] = timing["contended"]
    if timing["contended"]:
        frame[LATENCY_FIELDS] = math.nan
    frame["pareto"] = pareto_flags(frame)
    return frame.sort_values(["rank_ratio", "variant"]).reset_index(drop=True)


def precision_ran(precision: dict) -> str:
    """What ran, as read back: f32 for fixed-precision runtimes, int8 (with the convs that stayed
    fp32, where any did) for INT8 artifacts, bf16, or mixed."""
    ran = precision.get("ran", "f32")
    convs = precision.get("conv_precisions") or {}  # OpenVINO's read-back: convs per runtime precision
    if "fp32_convs" in precision:
        int8, fp32, total = precision["int8_convs"], precision["fp32_convs"], precision["fp32_convs"] + precision["int8_convs"]
    elif convs.keys() & {"u8", "i8"}:
        int8, fp32, total = convs.get("u8", 0) + convs.get("i8", 0), convs.get("f32", 0), sum(convs.values())
    else:
        return ran
    if int8 + fp32 < total:  # a third precision among the convs (bf16): say so
        return f"mixed ({', '.join(f'{n} {k}' for k, n in sorted(convs.items()))})"
    return "int8" if not fp32 else f"int8, {fp32} of {total} convs fp32"


def pareto_flags(frame: pd.DataFrame) -> list[bool]:
    """A variant is on the frontier when no other is both at least as fast (by the paired ratio)
    and as accurate, and better in one."""
    flags = []
    for _, row in frame.iterrows():
        if pd.isna(row["rank_ratio"]):
            flags.append(False)  # no valid latency: not ranked
            continue
        dominated = (
            (frame["rank_ratio"] <= row["rank_ratio"])
            & (frame["accuracy"] >= row["accuracy"])
            & ((frame["rank_ratio"] < row["rank_ratio"]) | (frame["accuracy"] > row["accuracy"]))
        ).any()
        flags.append(not dominated)
    return flags


def choice(row) -> dict:
    return {"variant": row["variant"], "kind": row["kind"], "artifact": row["artifact"],
            "snippet": snippet_of(row["kind"], row["artifact"], row["precision"]), "vs_baseline": row["vs_baseline"],
            "bundle": row["bundle"], "e2e_latency_ms": row["e2e_latency_ms"],
            "latency_ms": row["latency_ms"], "ratio": row["rank_ratio"], "speedup": row["speedup_vs_eager"],
            "size_mb": row["size_mb"]}


# The study this tool generalizes, as published (not measured here): 1000 test images.
# Each row is matched to a measured variant by its kind and the kind of its source.
PUBLISHED = [
    # name, kind, source kind, accuracy, size MB
    ("baseline", "baseline", None, 0.903, 1.91),
    ("quantized (INT8)", "quantized", "baseline", 0.780, 0.5),
    ("pruned 50%", "pruned", None, 0.825, None),
    ("TVM", "tvm", "baseline", 0.890, None),
    ("pruned + INT8", "quantized", "pruned", 0.625, None),
    ("pruned + TVM", "tvm", "pruned", 0.800, None),
]
PUBLISHED_NOTE = ("Published latencies (212 ms baseline, 82 ms TVM) included data loading and are not comparable "
                  "with batch-1 model latency; they are left out.")


def published_comparison(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per seed variant of the study beside the measured variant of the same kind and
    source kind (the alphabetically first when several match, e.g. a pruning sweep)."""
    kinds = dict(zip(frame["variant"], frame["kind"]))
    base_published = PUBLISHED[0][3]
    base_measured = frame.loc[frame["kind"] == "baseline", "accuracy"].iloc[0]
    rows = []
    for name, kind, source_kind, accuracy, size in PUBLISHED:
        source_ok = frame["source"].map(lambda s: kinds.get(s) == source_kind) if source_kind else True
        matches = frame[(frame["kind"] == kind) & source_ok]
        measured = matches.sort_values("variant").iloc[0] if not matches.empty else None
        rows.append({
            "published variant": name,
            "measured variant": measured["variant"] if measured is not None else None,
            "published accuracy": accuracy,
            "measured accuracy": measured["accuracy"] if measured is not None else None,
            "published drop (pt)": (base_published - accuracy) * 100,
            "measured drop (pt)": (base_measured - measured["accuracy"]) * 100 if measured is not None else None,
            "published size (MB)": size,
            "measured size (MB)": measured["size_mb"] if measured is not None else None,
        })
    return pd.DataFrame(rows)


__all__ = ["load_results", "pareto_flags", "published_comparison", "ALPHA"]
