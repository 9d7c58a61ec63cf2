"""The report page and the Markdown summary: recommendation first, then context, charts,
every number in readable units, and the published study beside the measured one.

The HTML inlines the Vega libraries (vl-convert's bundle), so it renders with no network.
"""

from __future__ import annotations

import html
import json
import math

import altair as alt
import pandas as pd
import vl_convert as vlc

from .results import LATENCY_FIELDS, PUBLISHED_NOTE

INVALID = "invalid (contended)"
STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;padding:1em 2em;max-width:1200px;color:#222}
table{border-collapse:collapse;width:100%;margin:0.5em 0 1.5em} th{background:#f3f3f3}
td,th{padding:3px 6px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top;font-size:0.92em}
td.num{text-align:right;white-space:nowrap} pre{white-space:pre-wrap;word-break:break-all;margin:0;
font-size:0.85em;background:#f7f7f7;padding:4px} .chart{width:100%;margin:1.5em 0}
.warning{color:#a00} .context td:first-child{width:14em;font-weight:600}
"""


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(value, spec: str, suffix: str = "") -> str:
    return "-" if missing(value) else f"{value:{spec}}{suffix}"


def goal_note(row) -> str:
    """A max_drop variant's budget, the estimate at its chosen setting, and whether the goal was met."""
    search = (row["build"] or {}).get("search")
    if not search:
        return ""
    chosen = search["chosen"]
    if "macs_removed" in chosen:
        setting, mildest = f"{chosen['macs_removed']:.0%} of MACs", "the mildest cut"
    else:
        setting, mildest = f"{len(chosen['fp32_layers'])} fp32 convs", "the least estimated drop"
    met = "" if search["goal_met"] else f", GOAL NOT MET: {mildest} shipped"
    return (f" (budget {search['max_drop']:g} pt, estimated {chosen['drop_pt']:.2f} pt "
            f"[{chosen['drop_ci_pt'][0]:.2f}, {chosen['drop_ci_pt'][1]:.2f}] at {setting}{met})")


def precision_label(requested: str, ran: str) -> str:
    """A reduced float precision beside the kind, as read back; nothing for the default f32."""
    if requested == "f32":
        return ""
    return f" ({ran})" if ran == requested else f" ({requested} requested, {ran} ran)"


def readable_rows(frame: pd.DataFrame, contended: bool) -> list[dict[str, str]]:
    """The table in units a reader uses (%, ms, MB, x); summary.csv keeps full precision."""
    rows = []
    for _, r in frame.iterrows():
        timed = not contended
        rows.append({
            "variant": (r["variant"] if r["fit"] else f"{r['variant']} (UNFIT: {r['unfit_reason']})") + goal_note(r),
            "kind": r["kind"] + precision_label(r["precision"], r["precision_ran"]),
            "accuracy (95% CI)": f"{r['accuracy']:.1%} ({r['accuracy_ci_low']:.1%}-{r['accuracy_ci_high']:.1%})",
            "against the baseline": r["vs_baseline"],
            "agreement": f"{r['agreement']:.1%}",
            "latency ms (p10-p90)": (f"{fmt(r['latency_ms'], '.2f')} ({fmt(r['latency_p10_ms'], '.2f')}-"
                                     f"{fmt(r['latency_p90_ms'], '.2f')})" if timed else INVALID),
            "speedup vs eager (95% CI)": (f"{fmt(r['speedup_vs_eager'], '.2f', 'x')} "
                                          f"({fmt(r['speedup_ci_low'], '.2f')}-{fmt(r['speedup_ci_high'], '.2f')})"
                                          if timed else INVALID),
            "x ONNX Runtime (95% CI)": (f"{fmt(r['ratio_to_onnxruntime'], '.2f')} ({fmt(r['ratio_to_onnxruntime_ci_low'], '.2f')}"
                                       f"-{fmt(r['ratio_to_onnxruntime_ci_high'], '.2f')})" if timed else INVALID),
            "end to end ms (added)": (f"{fmt(r['e2e_latency_ms'], '.2f')} (+{fmt(r['e2e_added_ms'], '.2f')})"
                                      if timed else INVALID),
            "size MB": f"{r['size_mb']:.2f}",
            "bundle MB (+ installed requirements)": f"{fmt(r['bundle_mb'], '.2f')} (+{fmt(r['requirements_mb'], '.0f')})",
            "peak RSS MB": fmt(r["peak_rss_mb"], ".0f"),
        })
    return rows


def html_table(rows: list[dict[str, str]], numeric: set[str] = frozenset()) -> str:
    if not rows:
        return "<p>-</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(
        f"<td class=\"num\">{html.escape(str(v))}</td>" if c in numeric else f"<td>{v}</td>" for c, v in row.items()
    ) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def how_to_ship(chosen: dict) -> str:
    """The chosen variant's deploy bundle and how to run it; the artifact snippet without one."""
    if chosen.get("bundle"):
        folder = html.escape(chosen["bundle"])
        return (f"<br>bundle <code>{folder}/</code> (README.md inside):"
                f"<pre>pip install -r {folder}/requirements.txt\npython {folder}/predict.py IMAGE...</pre>")
    return f"<br><code>{html.escape(chosen['artifact'])}</code><pre>{html.escape(chosen['snippet'])}</pre>"


def recommendation_rows(recommendations: list[dict]) -> list[dict[str, str]]:
    """Per budget: what ships (chosen on judge plates) and the smallest that qualifies, each with
    its evaluation verdict against that budget."""
    def described(pick: dict | None, what: str) -> str:
        if pick is None:
            return "no valid latency (timing contended)" if what == "ship" else "-"
        speed = (f"{pick['ratio']:.2f}x ONNX Runtime fp32" if what == "ship" and not missing(pick["ratio"]) else
                 f"{pick['size_mb']:.2f} MB")
        return (f"<b>{html.escape(pick['variant'])}</b> ({speed}; judge drop {pick['judge_drop_pt']:.2f} pt)"
                f"<br><b>{pick['verdict']}</b>: {html.escape(pick['verdict_text'].split(': ', 1)[1])}"
                f"{how_to_ship(pick)}")

    rows = []
    for entry in recommendations:
        budget = f"&le; {entry['limit_pt']:g} pt" + (" (your goal)" if entry["is_goal"] else "")
        if entry["only_exact"]:
            budget += "<br>only exact forms qualified"
        rows.append({"budget": budget, "ship": described(entry["ship"], "ship"),
                     "smallest": described(entry["smallest"], "smallest")})
    return rows


def context_rows(context: dict) -> list[dict[str, str]]:
    return [{"what": html.escape(k), "value": html.escape(str(v))} for k, v in context.items()]


def timing_note(timing: dict) -> str:
    """How latency was taken, or why it is not shown."""
    if timing["contended"]:
        return ("<p class=\"warning\"><b>Latency is not shown: the timing run was contended</b> "
                f"({html.escape('; '.join(timing['contention_reasons']))}). Rerun "
                "<code>snakemake --cores 8 -R timing report</code> on an idle machine.</p>")
    steal = max(timing.get("round_steal_cores") or [0.0])
    return (f"<p>Speed ranks by the median of per-round latency ratios (every variant timed in each of "
            f"{timing['rounds']} rounds, in {timing.get('process_sets', 1)} fresh sets of processes), with bootstrap "
            f"95% intervals; milliseconds describe this machine at the time. Load average before timing "
            f"{timing['load_avg']['before'][0]}; {timing['retimed_rounds']} round(s) timed again for other work; "
            f"hypervisor steal up to {steal:.2f} cores in a round; no contention left.</p>")


def published_table(published: pd.DataFrame) -> str:
    rows = []
    for _, r in published.iterrows():
        rows.append({
            "published variant": r["published variant"], "measured variant": r["measured variant"] or "-",
            "published accuracy": fmt(r["published accuracy"], ".1%"),
            "measured accuracy": fmt(r["measured accuracy"], ".1%"),
            "published drop": fmt(r["published drop (pt)"], ".1f", " pt"),
            "measured drop": fmt(r["measured drop (pt)"], ".1f", " pt"),
            "published size": fmt(r["published size (MB)"], ".2f", " MB"),
            "measured size": fmt(r["measured size (MB)"], ".2f", " MB"),
        })
    return html_table(rows)


def render_html(frame: pd.DataFrame, charts: dict[str, alt.Chart], timing: dict, recommendations: list[dict],
                context: dict, published: pd.DataFrame, answer: str = "", target: str = "") -> str:
    divs, calls = [], []
    for i, (name, chart) in enumerate(charts.items()):
        divs.append(f'<div class="chart" id="chart-{i}" data-name="{name}"></div>')
        calls.append(f"vegaEmbed('#chart-{i}', {json.dumps(chart.to_dict())}, {{renderer: 'svg', actions: false}});")
    rows = readable_rows(frame, timing["contended"])
    numeric = {"agreement", "latency ms (p10-p90)", "speedup vs eager (95% CI)", "x ONNX Runtime (95% CI)", "size MB",
               "peak RSS MB", "accuracy (95% CI)", "end to end ms (added)", "bundle MB (+ installed requirements)"}
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>lprnet-opt report</title><style>{STYLE}</style>
<script>{vlc.javascript_bundle()}</script></head>
<body><h1>lprnet-opt: which artifact to ship</h1>
<p id="answer"><b>{html.escape(answer)}</b></p>
<h2>Recommendation</h2>
<p>Each composition is chosen from the judge plates (calibration, plus generated plates when the images are
generated; never evaluation plates) and the timing stage: the fastest (by paired latency ratio) fit one that is
an exact form of the baseline (its fp32 weights in a runtime that does not approximate them: no margin) or
whose judge drop against the baseline, plus the margin, is within the budget. The evaluation split then gives the verdict from the paired
drop's 95% interval: <b>within</b> (upper end within the budget), <b>consistent</b> (estimate within, interval
crosses it), <b>inconclusive</b> (estimate over, interval crosses it), <b>over</b> (lower end over it).</p>
<div id="recommendation">{html_table(recommendation_rows(recommendations))}</div>
{timing_note(timing)}
{target}
<h2>Context</h2><div class="context">{html_table(context_rows(context))}</div>
<h2>Charts</h2>
{''.join(divs)}
<h2>All variants</h2>{html_table(rows, numeric)}
<p>Full-precision values of every field: <code>results/summary.csv</code>.</p>
<h2>The published study beside these measurements</h2>
<p>Published numbers are the original study's (1000 test images), NOT measured here. {PUBLISHED_NOTE}</p>
{published_table(published)}
<script>{''.join(calls)}</script>
</body></html>
"""


SUMMARY_COLUMNS = ["variant", "fit", "precision_ran", "accuracy", "accuracy_ci_low", "accuracy_ci_high",
                   "plates_gained", "plates_lost", "mcnemar_p", "judge_drop_pt", "agreement", "latency_ms", "ratio_to_eager", "speedup_ci_low", "speedup_ci_high",
                   "ratio_to_onnxruntime", "ratio_to_onnxruntime_ci_low", "ratio_to_onnxruntime_ci_high",
                   "throughput_ips", "throughput_ratio_to_onnxruntime", "e2e_latency_ms", "e2e_added_ms", "size_bytes", "peak_rss_mb"]


def cell(value, column: str, contended: bool) -> str:
    if column in LATENCY_FIELDS and contended:
        return INVALID
    if missing(value):
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_table(frame: pd.DataFrame, columns: list[str]) -> str:
    """A Markdown table; latency cells of a contended timing run say so instead of a number."""
    contended = bool(frame["timing_contended"].any()) if "timing_contended" in frame else False
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in frame[columns].iterrows():
        lines.append("| " + " | ".join(cell(row[c], c, contended) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def markdown_summary(frame: pd.DataFrame, recommendations: list[dict], context: dict | None = None,
                     answer: str = "") -> str:
    """The table and the recommendation, stamped with where and when they were measured
    (`context`: date, commit, CPU and its class), so a copy of it can stand in the docs."""
    lines = [answer, ""] if answer else []
    if context:
        lines += [f"Measured {context['date']} at commit {context['commit']} on "
                  f"{context['CPU']}; CPU class: {context['CPU class']}.", ""]
    lines += [markdown_table(frame, SUMMARY_COLUMNS)]
    lines += ["| budget | ship (evaluation verdict) | smallest (evaluation verdict) |", "|---|---|---|"]
    for entry in recommendations:
        picks = [f"{e['variant']} ({e['verdict']})" if e else "no valid latency" for e in (entry["ship"], entry["smallest"])]
        goal = " (goal)" if entry["is_goal"] else ""
        lines.append(f"| <= {entry['limit_pt']:g} pt{goal} | {picks[0]} | {picks[1]} |")
    lines += ["", *(f"- {key}: {value}" for key, value in (context or {}).items() if key.startswith("TVM schedules"))]
    return "\n".join(lines).rstrip() + "\n"
