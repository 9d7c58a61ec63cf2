"""The report's Altair charts. Each takes the results frame (report.results) and a width:
"container" in the HTML page (charts fill their column), a number for the PNG/SVG copies; the
charts that label points keep a fixed width (chart_labels.LABELLED_WIDTH) in both.

Accuracy axes start from a floor under the lowest 95% interval, not at the lowest point, and
every accuracy point carries its interval: five plates in a thousand must not look like a ranking.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from ..kinds import KINDS
from .activation_chart import activation_scan_chart
from .chart_labels import HEIGHT, LABELLED_WIDTH, padded, point_labels, with_key


def accuracy_scale(frame: pd.DataFrame) -> alt.Scale:
    low = max(0.0, float(frame["accuracy_ci_low"].min()) - 0.01)
    high = min(1.0, float(frame["accuracy_ci_high"].max()) + 0.005)
    return alt.Scale(domain=[low, high], zero=False)


def accuracy_chart(frame: pd.DataFrame, width) -> alt.Chart:
    """Every variant's accuracy with its Wilson 95% interval; the line is the baseline."""
    scale = accuracy_scale(frame)
    base = alt.Chart(frame).encode(y=alt.Y("variant:N", sort="-x", title=None))
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("accuracy_ci_low:Q", scale=scale, axis=alt.Axis(format=".1%"),
                title="exact-plate accuracy, 95% interval (Wilson)"),
        x2="accuracy_ci_high:Q", color=alt.Color("kind:N"))
    points = base.mark_point(filled=True, size=70, color="black").encode(
        x=alt.X("accuracy:Q", scale=scale),
        tooltip=["variant", alt.Tooltip("accuracy:Q", format=".2%"), "n_correct", "n_images", "vs_baseline"])
    baseline = alt.Chart(frame[frame["kind"] == "baseline"]).mark_rule(strokeDash=[4, 3], color="gray").encode(
        x=alt.X("accuracy:Q", scale=scale))
    return (bars + points + baseline).properties(
        title="Accuracy with 95% intervals (dashed: baseline)", width=width, height=max(120, 28 * len(frame)))


# Speed axes show what ranks, the paired latency ratio (results.rank_ratio); milliseconds, which
# move with the machine's level, are in the tooltips.
RATIO_TITLE = "batch-1 latency ratio to ONNX Runtime fp32 (to eager without it), median of paired rounds"


def accuracy_latency_chart(frame: pd.DataFrame, width) -> alt.Chart:
    data = frame.dropna(subset=["rank_ratio"])
    low, high = accuracy_scale(frame).domain
    x_domain = padded(data["rank_ratio"])
    xs, ys = alt.Scale(domain=x_domain, nice=False), alt.Scale(domain=[low, high], nice=False)
    base = alt.Chart(data).encode(x=alt.X("rank_ratio:Q", title=RATIO_TITLE, scale=xs))
    intervals = base.mark_rule(opacity=0.6).encode(
        y=alt.Y("accuracy_ci_low:Q", scale=ys, axis=alt.Axis(format=".1%"), title="exact-plate accuracy"),
        y2="accuracy_ci_high:Q", color="kind:N")
    points = base.mark_point(filled=True, size=90).encode(
        y=alt.Y("accuracy:Q", scale=ys), color=alt.Color("kind:N"),
        tooltip=["variant", alt.Tooltip("accuracy:Q", format=".2%"), "rank_ratio", "latency_ms", "size_mb"])
    frontier = alt.Chart(data[data["pareto"]]).mark_line(strokeDash=[4, 3], color="gray").encode(
        x=alt.X("rank_ratio:Q", scale=xs), y=alt.Y("accuracy:Q", scale=ys), order="rank_ratio:Q")
    labels, key = point_labels(data, "rank_ratio", "accuracy", x_domain, [low, high])
    return with_key((intervals + frontier + points + labels).properties(
        title="Accuracy against latency ratio (bars: 95% intervals; dashed: Pareto frontier)", width=LABELLED_WIDTH,
        height=HEIGHT), key)


def frontier_chart(frame: pd.DataFrame, max_drop: float, width) -> alt.Chart:
    """Every composition's latency against its evaluation drop from the baseline, with the paired
    95% interval, and the goal's budget; labels placed so that none covers another."""
    data = frame.dropna(subset=["rank_ratio"]).assign(drop=lambda f: f["drop_pt"], judged=lambda f: f["judge_drop_pt"])
    x_domain = padded(data["rank_ratio"])
    y_domain = padded(pd.concat([data["drop_ci_low"], data["drop_ci_high"], pd.Series([max_drop, 0.0])]))
    xs, ys = alt.Scale(domain=x_domain, nice=False), alt.Scale(domain=y_domain, nice=False)
    base = alt.Chart(data).encode(x=alt.X("rank_ratio:Q", title=RATIO_TITLE, scale=xs))
    intervals = base.mark_rule(opacity=0.6).encode(
        y=alt.Y("drop_ci_low:Q", scale=ys, title="evaluation drop against the baseline (pt)"), y2="drop_ci_high:Q",
        color="kind:N")
    points = base.mark_point(filled=True, size=80).encode(
        y=alt.Y("drop:Q", scale=ys), color="kind:N", shape=alt.Shape("fit:N", title="fit"),
        tooltip=["variant", "kind", alt.Tooltip("rank_ratio:Q", format=".3f"), alt.Tooltip("latency_ms:Q", format=".3f"),
                 alt.Tooltip("drop:Q", format=".2f"),
                 alt.Tooltip("drop_ci_low:Q", format=".2f"), alt.Tooltip("drop_ci_high:Q", format=".2f"),
                 alt.Tooltip("judged:Q", format=".2f", title="judge drop")])
    budget = alt.Chart(pd.DataFrame({"budget": [max_drop]})).mark_rule(strokeDash=[5, 3], color="#a00").encode(
        y=alt.Y("budget:Q", scale=ys))
    labels, key = point_labels(data, "rank_ratio", "drop", x_domain, y_domain)
    return with_key((intervals + budget + points + labels).properties(
        title=f"Every composition: latency ratio against evaluation drop (bars: 95% intervals; dashed: the {max_drop:g} pt "
              "budget)", width=LABELLED_WIDTH, height=HEIGHT), key)


def speedup_chart(frame: pd.DataFrame, width) -> alt.Chart:
    base = alt.Chart(frame).encode(y=alt.Y("variant:N", sort="-x", title=None))
    bars = base.mark_bar().encode(
        x=alt.X("speedup_vs_eager:Q", title="speedup over eager fp32 (median of per-round ratios)"), color="kind:N",
        tooltip=["variant", alt.Tooltip("speedup_vs_eager:Q", format=".2f"),
                 alt.Tooltip("speedup_ci_low:Q", format=".2f"), alt.Tooltip("speedup_ci_high:Q", format=".2f")])
    whiskers = base.mark_errorbar(color="black", ticks=True).encode(
        x=alt.X("speedup_ci_low:Q", title=""), x2="speedup_ci_high:Q")
    return (bars + whiskers).properties(title="Speedup over eager fp32 (whiskers: bootstrap 95% interval)",
                                        width=width, height=max(120, 28 * len(frame)))


def size_chart(frame: pd.DataFrame, width) -> alt.Chart:
    long = frame.melt(id_vars=["variant"], value_vars=["size_bytes", "size_gzip_bytes"], var_name="measure",
                      value_name="bytes")
    long["MB"] = long["bytes"] / 1e6
    long["measure"] = long["measure"].map({"size_bytes": "file", "size_gzip_bytes": "gzip"})
    return alt.Chart(long).mark_bar().encode(
        y=alt.Y("variant:N", title=None), x=alt.X("MB:Q", title="size on disk (MB)"),
        color=alt.Color("measure:N", title=None), yOffset="measure:N", tooltip=["variant", "measure", "MB"],
    ).properties(title="Size on disk (file and gzip)", width=width)


def sparsity_chart(frame: pd.DataFrame, width) -> alt.Chart | None:
    """The pruning sweep: accuracy against the share removed, unstructured (conv weights set to
    zero) and structured (MACs removed) on one axis; beside it, latency against MACs removed
    for each runtime that ran the full and the channel-pruned weights."""
    sweep = frame[frame["kind"].isin([name for name, kind in KINDS.items() if kind.sweep])].copy()
    if not ((sweep["sparsity"] > 0) | (sweep["macs_removed"] > 0)).any():
        return None
    sweep["method"] = sweep["kind"].map({"baseline": "none", "pruned": "unstructured (weights zeroed)",
                                         "channel_pruned": "structured (MACs removed)"})
    sweep["removed"] = [r.macs_removed if r.kind == "channel_pruned" else r.sparsity if r.kind == "pruned" else 0.0
                        for r in sweep.itertuples()]
    both = pd.concat([sweep, *(sweep[sweep["kind"] == "baseline"].assign(method=m)
                               for m in sweep["method"].unique() if m != "none")])
    both = both[both["method"] != "none"]
    scale = accuracy_scale(frame)
    base = alt.Chart(both).encode(x=alt.X("removed:Q", title="share removed (weights zeroed or MACs)",
                                          axis=alt.Axis(format="%")), color=alt.Color("method:N", title="pruning"))
    line = base.mark_line(point=True).encode(
        y=alt.Y("accuracy:Q", scale=scale, axis=alt.Axis(format=".1%"), title="exact-plate accuracy"),
        order="removed:Q", tooltip=["variant", "removed", alt.Tooltip("accuracy:Q", format=".2%"), "vs_baseline"])
    intervals = base.mark_rule().encode(y=alt.Y("accuracy_ci_low:Q", scale=scale), y2="accuracy_ci_high:Q")
    accuracy = (intervals + line).properties(
        title="Pruning sweep: accuracy against share removed (bars: 95% intervals)", width=width, height=HEIGHT)
    kinds = dict(zip(frame["variant"], frame["kind"]))
    dense_or_slim = frame[[k in ("baseline", "channel_pruned") or (k != "pruned" and kinds.get(s) in ("baseline", "channel_pruned"))
                           for k, s in zip(frame["kind"], frame["source"])]].copy()
    dense_or_slim["runtime_kind"] = ["eager fp32" if k in ("baseline", "channel_pruned") else k
                                     for k in dense_or_slim["kind"]]
    if dense_or_slim["latency_ms"].isna().all() or not (dense_or_slim["macs_removed"] > 0).any():
        return accuracy
    latency = alt.Chart(dense_or_slim).mark_line(point=True).encode(
        x=alt.X("macs_removed:Q", title="MACs removed by channel pruning", axis=alt.Axis(format="%")),
        y=alt.Y("latency_ms:Q", title="batch-1 latency (ms)", scale=alt.Scale(zero=False)),
        color=alt.Color("runtime_kind:N", title="runtime"), order="macs_removed:Q",
        tooltip=["variant", "macs_removed", "latency_ms", "speedup_vs_eager"],
    ).properties(title="Latency against MACs removed, per runtime", width=width, height=HEIGHT)
    both_panels = alt.hconcat(accuracy, latency) if isinstance(width, (int, float)) else alt.vconcat(accuracy, latency)
    return both_panels.resolve_scale(color="independent")


def tuning_chart(curves: list[dict], width) -> alt.Chart | None:
    """Estimated whole-model latency against trials, one curve per database; the vertical line is
    the configured budget, the horizontal ones the measured latency of each compiled library."""
    points = pd.DataFrame([{**p, "database": c["label"]} for c in curves for p in c["points"]])
    if points.empty:
        return None
    x = alt.X("trials:Q", title="trials (each task given the same share of its own)")
    y = alt.Y("estimated_ms:Q", title="latency (ms, log scale)", scale=alt.Scale(type="log"))
    line = alt.Chart(points).mark_line(point=True).encode(
        x=x, y=y, color=alt.Color("database:N", title="database"), tooltip=["database", "trials", "estimated_ms"])
    budget = alt.Chart(pd.DataFrame([{"trials": c["budget"], "what": "configured budget"} for c in curves])).mark_rule(
        strokeDash=[4, 3], color="gray").encode(x="trials:Q", tooltip=["what", "trials"])
    measured = pd.DataFrame([{"estimated_ms": ms, "variant": v} for c in curves for v, ms in c["measured"].items()])
    layers = [line, budget]
    if not measured.empty:
        layers.append(alt.Chart(measured).mark_rule(color="firebrick").encode(
            y="estimated_ms:Q", tooltip=["variant", "estimated_ms"]))
    libraries = ", ".join(f"{r.variant} {r.estimated_ms:.2f} ms" for r in measured.itertuples()) or "none timed"
    title = alt.TitleParams("TVM tuning curve: each task's best kernel time so far x its calls, summed",
                            subtitle=[f"dashed: configured budget; red: measured library latency ({libraries})",
                                      *(f"{c['label']}: {c['origin']}" for c in curves if c.get("origin"))])
    return alt.layer(*layers).properties(title=title, width=width, height=HEIGHT)


def sensitivity_chart(frame: pd.DataFrame, width) -> alt.Chart | None:
    """The INT8 scan: logit error with each conv kept in fp32 (all INT8 as the first bar)."""
    rows = []
    for _, row in frame.iterrows():
        build = row["build"] or {}
        chosen = set(build.get("fp32_layers") or ())
        for order, entry in enumerate(build.get("sensitivity") or ()):
            layer = "(all INT8)" if entry["layer"] == "none" else entry["layer"]
            rows.append({"variant": row["variant"], "layer": layer, "order": order, "logit_mse": entry["logit_mse"],
                         "kept fp32": "chosen" if entry["layer"] in chosen else "not chosen"})
    if not rows:
        return None
    data = pd.DataFrame(rows)
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("layer:N", sort=alt.SortField("order"), title="conv kept in fp32"),
        y=alt.Y("logit_mse:Q", title="logit MSE against fp32 (calibration split)"),
        xOffset="variant:N", color=alt.Color("variant:N"),
        opacity=alt.Opacity("kept fp32:N", scale=alt.Scale(domain=["chosen", "not chosen"], range=[1.0, 0.35])),
        tooltip=["variant", "layer", "logit_mse", "kept fp32"],
    ).properties(title="INT8 sensitivity scan (solid: the layers chosen to stay fp32)", width=width, height=HEIGHT)


def budget_chart(rows: list[dict], shipped: list[dict], budgets: list[dict], x: alt.X, size: alt.Size,
                 tooltip: list, title: str, subtitle: str, width, **point_channels) -> alt.Chart:
    """The layers every accuracy-budget chart shares: each candidate's estimated drop with its
    95% interval, the budget as a dashed line, and the drop measured on the evaluation split
    for what shipped (a black diamond). `rows` hold variant, drop_pt, low and high."""
    data = pd.DataFrame(rows)
    intervals = alt.Chart(data).mark_rule(opacity=0.5).encode(
        x=x, y=alt.Y("low:Q", title="accuracy drop, points"), y2="high:Q", color="variant:N")
    points = alt.Chart(data).mark_point(filled=True).encode(
        x=x, y="drop_pt:Q", color="variant:N", size=size, tooltip=tooltip, **point_channels)
    budget = alt.Chart(pd.DataFrame(budgets)).mark_rule(strokeDash=[4, 3], color="gray").encode(
        y="max_drop:Q", tooltip=["variant", "max_drop"])
    measured = alt.Chart(pd.DataFrame(shipped)).mark_point(shape="diamond", size=120, color="black").encode(
        x=x, y="drop_pt:Q", tooltip=["variant", alt.Tooltip("drop_pt:Q", format=".2f", title="measured drop")])
    return (intervals + points + budget + measured).properties(
        title=alt.TitleParams(title, subtitle=subtitle), width=width, height=HEIGHT)


def search_chart(frame: pd.DataFrame, width) -> alt.Chart | None:
    """Each channel-pruning max_drop search's path: MACs removed against the estimated drop
    (calibration images) with its 95% interval, the budget, the chosen cut, and the drop
    measured on the evaluation split for the variant that shipped."""
    rows, shipped, budgets = [], [], []
    for _, row in frame.iterrows():
        search = (row["build"] or {}).get("search")
        if not search or "macs_removed" not in search["chosen"]:
            continue
        budgets.append({"variant": row["variant"], "max_drop": search["max_drop"]})
        for entry in search["path"]:
            rows.append({"variant": row["variant"], "macs_removed": entry["macs_removed"], "drop_pt": entry["drop_pt"],
                         "low": entry["drop_ci_pt"][0], "high": entry["drop_ci_pt"][1],
                         "cut": "chosen" if entry == search["chosen"] else "tried", "macs_ratio": entry["macs_ratio"]})
        shipped.append({"variant": row["variant"], "macs_removed": row["macs_removed"], "drop_pt": row["drop_pt"]})
    if not rows:
        return None
    return budget_chart(
        rows, shipped, budgets, alt.X("macs_removed:Q", axis=alt.Axis(format=".0%"), title="MACs removed"),
        alt.Size("cut:N", scale=alt.Scale(domain=["chosen", "tried"], range=[160, 40]), title=None),
        ["variant", "macs_ratio", alt.Tooltip("macs_removed:Q", format=".1%"), alt.Tooltip("drop_pt:Q", format=".2f"),
         "cut"],
        "Channel-pruning search under the accuracy budget",
        "estimated on calibration images with 95% intervals; dashed: the budget; "
        "large: the chosen cut; black diamond: drop measured on the evaluation split", width)


def int8_search_chart(frame: pd.DataFrame, width) -> alt.Chart | None:
    """Each INT8 budget's attempts, in order: fp32 convs kept against the estimated drop (judge
    plates) with its 95% interval, the budget, the attempt that shipped, and the drop measured
    on the evaluation split."""
    rows, shipped, budgets = [], [], []
    for _, row in frame.iterrows():
        search = (row["build"] or {}).get("search")
        if not search or "macs_removed" in search["chosen"]:
            continue
        budgets.append({"variant": row["variant"], "max_drop": search["max_drop"]})
        for entry in search["path"]:
            rows.append({"variant": row["variant"], "fp32_convs": len(entry["fp32_layers"]), "step": entry["step"],
                         "reduce_range": entry["reduce_range"], "drop_pt": entry["drop_pt"],
                         "low": entry["drop_ci_pt"][0], "high": entry["drop_ci_pt"][1],
                         "attempt": "shipped" if entry == search["chosen"] else "tried"})
        shipped.append({"variant": row["variant"], "fp32_convs": len(search["chosen"]["fp32_layers"]),
                        "drop_pt": row["drop_pt"]})
    if not rows:
        return None
    return budget_chart(
        rows, shipped, budgets,
        alt.X("fp32_convs:Q", axis=alt.Axis(tickMinStep=1), title="convs kept fp32 (besides the fixed ones)"),
        alt.Size("attempt:N", scale=alt.Scale(domain=["shipped", "tried"], range=[160, 40]), title=None),
        ["variant", "step", "reduce_range", alt.Tooltip("drop_pt:Q", format=".2f"), "attempt"],
        "INT8 attempts under the accuracy budget",
        "estimated on judge plates (never evaluation ones) with 95% intervals; dashed: the budget; large: the "
        "attempt that shipped; black diamond: drop measured on the evaluation split", width,
        shape=alt.Shape("reduce_range:N", title="7-bit weights"))


def build_charts(frame: pd.DataFrame, curves: list[dict], width, max_drop: float) -> dict[str, alt.Chart]:
    timed = not frame["timing_contended"].any()
    charts = {
        "frontier": frontier_chart(frame, max_drop, width) if timed else None,
        "accuracy": accuracy_chart(frame, width),
        "accuracy_latency": accuracy_latency_chart(frame, width) if timed else None,
        "speedup": speedup_chart(frame, width) if timed else None,
        "size": size_chart(frame, width),
        "sparsity": sparsity_chart(frame, width),
        "tuning": tuning_chart(curves, width),
        "sensitivity": sensitivity_chart(frame, width),
        "activation_scan": activation_scan_chart(frame, width),
        "search": search_chart(frame, width),
        "int8_search": int8_search_chart(frame, width),
    }
    return {name: chart for name, chart in charts.items() if chart is not None}
