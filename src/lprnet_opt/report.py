"""Aggregate eval records and the timing stage into summary.csv/summary.md and a
self-contained Altair report.

Nothing here knows the variant list: every results/eval/*.json becomes a row, joined with its
entry in results/timing.json. A contended timing run shows no latency numbers at all.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import altair as alt
import pandas as pd
import vl_convert as vlc

from .atomic import read_json, write_text
from .kinds import KINDS
from .record import SCALAR_FIELDS, read_record

# The study this tool generalizes, as published (not measured here): 1000 test images.
PUBLISHED = pd.DataFrame(
    [
        ("baseline", 0.903, 1.91, 212.0),
        ("quantized (INT8)", 0.780, 0.5, None),
        ("pruned 50%", 0.825, None, None),
        ("TVM", 0.890, None, 82.0),
        ("pruned + INT8", 0.625, None, None),
        ("pruned + TVM", 0.800, None, None),
    ],
    columns=["variant", "accuracy", "size_mb", "latency_ms"],
)


# Per-variant fields of results/timing.json that become columns.
TIMING_FIELDS = ["latency_ms", "latency_round_spread", "ratio_to_eager", "ratio_to_onnxruntime", "throughput_ips",
                 "peak_rss_mb"]
LATENCY_FIELDS = ["latency_ms", "latency_round_spread", "ratio_to_eager", "ratio_to_onnxruntime", "throughput_ips",
                  "speedup_vs_eager", "speedup_min", "speedup_max"]


def load_results(paths: list[str | Path], timing: dict) -> pd.DataFrame:
    """One row per eval record (record.EvalRecord) with its timing, fastest first.

    When the timing run was contended, every latency-derived cell is empty (NaN): a number
    taken beside other work is not shown as if it were one.
    """
    rows = []
    for record in (read_record(p) for p in paths):
        row = {name: getattr(record, name) for name in SCALAR_FIELDS}
        timed = timing["variants"].get(record.variant)
        if timed is None:
            raise ValueError(f"results/timing.json has no entry for variant {record.variant!r}; rerun rule timing")
        row.update({name: timed.get(name) for name in TIMING_FIELDS})
        low, high = timed["ratio_to_eager_range"]
        row.update(speedup_vs_eager=1 / timed["ratio_to_eager"], speedup_min=1 / high, speedup_max=1 / low)
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["size_mb"] = frame["size_bytes"] / 1e6
    frame["timing_contended"] = timing["contended"]
    if timing["contended"]:
        frame[LATENCY_FIELDS] = math.nan
    frame["pareto"] = pareto_flags(frame)
    return frame.sort_values(["latency_ms", "variant"]).reset_index(drop=True)


def pareto_flags(frame: pd.DataFrame) -> list[bool]:
    """A variant is on the frontier when no other is both at least as fast and as accurate, and better in one."""
    flags = []
    for _, row in frame.iterrows():
        if pd.isna(row["latency_ms"]):
            flags.append(False)  # no valid latency: not ranked
            continue
        dominated = (
            (frame["latency_ms"] <= row["latency_ms"])
            & (frame["accuracy"] >= row["accuracy"])
            & ((frame["latency_ms"] < row["latency_ms"]) | (frame["accuracy"] > row["accuracy"]))
        ).any()
        flags.append(not dominated)
    return flags


def accuracy_latency_chart(frame: pd.DataFrame) -> alt.Chart:
    base = alt.Chart(frame).encode(
        x=alt.X("latency_ms:Q", title="batch-1 latency, median (ms)", scale=alt.Scale(zero=False)),
        y=alt.Y("accuracy:Q", title="exact-plate accuracy", axis=alt.Axis(format="%"), scale=alt.Scale(zero=False)),
    )
    points = base.mark_point(filled=True, size=90).encode(
        color=alt.Color("kind:N"), tooltip=["variant", "accuracy", "latency_ms", "size_bytes"]
    )
    labels = base.mark_text(align="left", dx=7, dy=-6).encode(text="variant:N")
    frontier = alt.Chart(frame[frame["pareto"]]).mark_line(strokeDash=[4, 3], color="gray").encode(
        x="latency_ms:Q", y="accuracy:Q", order="latency_ms:Q"
    )
    return (frontier + points + labels).properties(title="Accuracy against latency (dashed: Pareto frontier)", width=520, height=320)


def speedup_chart(frame: pd.DataFrame) -> alt.Chart:
    base = alt.Chart(frame).encode(y=alt.Y("variant:N", sort="-x", title=None))
    bars = base.mark_bar().encode(x=alt.X("speedup_vs_eager:Q", title="speedup over eager fp32 (median of round ratios)"),
                                  color="kind:N")
    spread = base.mark_errorbar(color="black").encode(x="speedup_min:Q", x2="speedup_max:Q")
    return (bars + spread).properties(title="Speedup over eager fp32, timed side by side (whiskers: range over rounds)",
                                      width=520)


def size_chart(frame: pd.DataFrame) -> alt.Chart:
    long = frame.melt(id_vars=["variant"], value_vars=["size_bytes", "size_gzip_bytes"], var_name="measure", value_name="bytes")
    long["MB"] = long["bytes"] / 1e6
    return alt.Chart(long).mark_bar().encode(
        y=alt.Y("variant:N", title=None), x=alt.X("MB:Q", title="size on disk (MB)"),
        color=alt.Color("measure:N", title=None), yOffset="measure:N",
    ).properties(title="Size on disk (raw file and gzip)", width=520)


def sparsity_chart(frame: pd.DataFrame) -> alt.Chart | None:
    sweep_kinds = [name for name, kind in KINDS.items() if kind.sweep]
    sweep = frame[frame["kind"].isin(sweep_kinds)]
    if (sweep["sparsity"] > 0).sum() < 1:
        return None
    return alt.Chart(sweep).mark_line(point=True).encode(
        x=alt.X("sparsity:Q", title="conv weights pruned (share)"),
        y=alt.Y("accuracy:Q", title="exact-plate accuracy", axis=alt.Axis(format="%"), scale=alt.Scale(zero=False)),
        tooltip=["variant", "sparsity", "accuracy"],
    ).properties(title="Accuracy against pruning ratio", width=520)


def published_chart() -> alt.Chart:
    return alt.Chart(PUBLISHED).mark_bar(color="#bbbbbb").encode(
        y=alt.Y("variant:N", title=None, sort=None), x=alt.X("accuracy:Q", axis=alt.Axis(format="%"), title="accuracy"),
        tooltip=["variant", "accuracy", "size_mb", "latency_ms"],
    ).properties(title="Original study, published numbers (NOT measured here)", width=520)


def build_charts(frame: pd.DataFrame) -> dict[str, alt.Chart]:
    timed = not frame["timing_contended"].any()
    charts = {
        "accuracy_latency": accuracy_latency_chart(frame) if timed else None,
        "speedup": speedup_chart(frame) if timed else None,
        "size": size_chart(frame),
        "sparsity": sparsity_chart(frame),
        "published": published_chart(),
    }
    return {name: chart for name, chart in charts.items() if chart is not None}


# The HTML table; summary.csv has every scalar field of the records.
TABLE_COLUMNS = [
    "variant", "kind", "accuracy", "char_accuracy", "agreement", "agreement_with_source", "latency_ms",
    "latency_round_spread", "ratio_to_eager", "ratio_to_onnxruntime", "throughput_ips", "size_mb", "peak_rss_mb",
    "sparsity", "n_images",
]
SUMMARY_COLUMNS = ["variant", "accuracy", "agreement", "latency_ms", "ratio_to_eager", "ratio_to_onnxruntime",
                   "size_bytes", "peak_rss_mb"]
INVALID = "invalid (contended)"


def cell(value, column: str, contended: bool) -> str:
    """A table cell: latency-derived cells of a contended run say so instead of showing a number."""
    if column in LATENCY_FIELDS and contended:
        return INVALID
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_table(frame: pd.DataFrame, cols: list[str] = SUMMARY_COLUMNS) -> str:
    contended = bool(frame["timing_contended"].any()) if "timing_contended" in frame else False
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame[cols].iterrows():
        lines.append("| " + " | ".join(cell(row[c], c, contended) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def timing_note(timing: dict) -> str:
    """One paragraph on how latency was taken, or why it is not shown."""
    if timing["contended"]:
        return ("<p class=\"warning\"><b>Latency is not shown: the timing run was contended</b> "
                f"({'; '.join(timing['contention_reasons'])}). Rerun <code>snakemake --cores 8 -R timing report</code> "
                "on an idle machine.</p>")
    return (f"<p>Latency: every variant alone in a fresh process, {timing['rounds']} rounds of {timing['runs']} "
            f"batch-1 calls in alternating order ({timing['threads']} threads); the median of round medians. Ratios "
            f"to eager fp32 and ONNX Runtime fp32 are paired by round. Load average before timing "
            f"{timing['load_avg']['before'][0]}; {timing['retimed_rounds']} disturbed round(s) timed again.</p>")


def render_html(frame: pd.DataFrame, charts: dict[str, alt.Chart], timing: dict) -> str:
    """One page with the Vega libraries inlined, so it renders with no network."""
    divs, calls = [], []
    for i, (name, chart) in enumerate(charts.items()):
        divs.append(f'<div class="chart" id="chart-{i}" data-name="{name}"></div>')
        calls.append(f"vegaEmbed('#chart-{i}', {json.dumps(chart.to_dict())}, {{renderer: 'svg', actions: false}});")
    contended = timing["contended"]
    shown = frame[TABLE_COLUMNS].astype(object).apply(lambda col: [cell(v, col.name, contended) for v in col])
    table = shown.to_html(index=False, border=0)
    published = PUBLISHED.to_html(index=False, na_rep="-", border=0)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>lprnet-opt report</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}} .chart{{margin:1.5em 0}} .warning{{color:#a00}}</style>
<script>{vlc.javascript_bundle()}</script></head>
<body><h1>lprnet-opt: variants measured side by side</h1>
<p>Accuracy is exact-plate accuracy on the evaluation split at batch 1.</p>
{timing_note(timing)}
{''.join(divs)}
<h2>All numbers</h2>{table}
<h2>Original study, as published (not measured here)</h2>{published}
<script>{''.join(calls)}</script>
</body></html>
"""


def write_report(eval_paths: list[str | Path], timing_path: str | Path, csv: str | Path, markdown: str | Path,
                 html_path: str | Path, chart_dir: str | Path) -> pd.DataFrame:
    timing = read_json(timing_path)
    frame = load_results(eval_paths, timing)
    charts = build_charts(frame)
    write_text(frame.drop(columns=["pareto"]).to_csv(index=False), csv)
    write_text(markdown_table(frame), markdown)
    chart_dir = Path(chart_dir)
    chart_dir.mkdir(parents=True, exist_ok=True)
    for name, chart in charts.items():
        spec = chart.to_dict()
        (chart_dir / f"{name}.svg").write_text(vlc.vegalite_to_svg(spec), encoding="utf-8")
        (chart_dir / f"{name}.png").write_bytes(vlc.vegalite_to_png(spec, scale=2))
    write_text(render_html(frame, charts, timing), html_path)
    return frame


__all__ = ["write_report", "load_results", "pareto_flags"]
