"""Every output of rule summarize: summary.csv, summary.md, the charts and the HTML page."""


from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

import vl_convert as vlc

from ..atomic import read_json, write_text
from ..tvm.curve import curve_of, origin_sentence, schedule_origin
from .charts import build_charts
from .page import markdown_summary, render_html
from .target_section import target_section
from .goal import Goal, answer, choose, judge_drops, recommendations
from .results import load_results, published_comparison

# The static copies in results/charts/ (the page itself sizes charts to their column).
EXPORT_WIDTH = 640


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def report_context(timing: dict, baseline_weights: str | Path | None = None, split: str | Path | None = None,
                   images: str | None = None, config_hash: str | None = None) -> dict[str, str]:
    """Where the numbers come from: checkpoint, images, machine, versions, date, config."""
    env = timing["env"]
    context = {}
    if baseline_weights is not None:
        context["checkpoint"] = f"{baseline_weights} (sha256 {sha256_of(baseline_weights)})"
    if split is not None:
        counts = read_json(split)["counts"]
        context["images"] = (f"{images or '?'}: {counts['evaluation']} evaluated, {counts['calibration']} for "
                             "calibration and recovery only")
    context["CPU"] = (f"{env['cpu_model']}, {env['physical_cores']} physical / {env['logical_cores']} logical cores, "
                      f"{timing['threads']} threads")
    cap = f", oneDNN capped by ONEDNN_MAX_CPU_ISA={env['onednn_max_cpu_isa']}" if env.get("onednn_max_cpu_isa") else ""
    context["CPU class"] = (f"{env['isa']} for oneDNN runtimes (PyTorch, OpenVINO), {env['isa_hardware']} for ONNX "
                            f"Runtime{cap}. INT8 numerics are chosen for it: rebuild on a deployment CPU of another class")
    context["bf16 compute"] = (f"{env.get('bf16', 'unknown')} (hardware: {env.get('bf16_hardware', 'unknown')}); "
                               "each bf16 variant's precision is the one its runtime read back")
    context["versions"] = (f"torch {env['torch']}, TVM {env['tvm']}, ONNX Runtime {env['onnxruntime']}, "
                           f"OpenVINO {env['openvino']}, Python {env['python']}")
    context["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    context["commit"] = env.get("commit") or "unknown (not a git checkout)"
    if config_hash is not None:
        context["config"] = f"sha256 {config_hash} of the merged config"
    context["protocol"] = (
        f"Accuracy: exact plates at batch 1 through each variant's own runtime, with Wilson 95% intervals and "
        f"exact McNemar tests against the baseline on the same plates. Latency: each variant in a process "
        f"of its own, the processes taking turns in blocks of about {timing['settings']['block_ms']:g} ms of batch-1 "
        f"calls, {timing['rounds']} rounds over {timing['process_sets']} fresh sets of processes; ratios paired by "
        f"round, their median ranks, with bootstrap 95% intervals (sets, then rounds, resampled).")
    return context


def tuning_curves(tuning: list[dict], timing: dict) -> list[dict]:
    """Per database: its curve, the configured budget and the measured latency of its libraries."""
    curves = []
    for entry in tuning:
        measured = {v: timing["variants"][v]["latency_ms"] for v in entry.get("variants", ())
                    if v in timing["variants"] and not timing["contended"]}
        curves.append({"label": entry["label"], "budget": entry["budget"], "measured": measured,
                       "points": curve_of(entry["shards"], entry["tasks"]),
                       "origin": origin_sentence(schedule_origin(entry["shards"]))})
    return curves


def write_report(eval_paths, timing_path, csv, markdown, html_path, chart_dir, *, judge_paths, goal: Goal = Goal(),
                 baseline_weights=None, split=None, images=None, config_hash=None, tuning: list[dict] | None = None,
                 bundle_paths=(), target_summary=None):
    """Write every output of rule summarize; returns the results frame.

    `judge_paths` are the judge readings (results/judge/*.json) the choice under `goal` reads.
    `bundle_paths` are the deploy bundles' bundle.json files (their folders and sizes).
    `tuning` lists the TVM databases: dicts with label, shards (the shards' database folders),
    tasks (tasks.json), budget (configured trials) and variants (the TVM variants compiled from it).
    """
    timing = read_json(timing_path)
    bundles = {(b := read_json(p))["variant"]: b for p in bundle_paths}
    judged = judge_drops(judge_paths)
    frame = load_results(eval_paths, timing, bundles, judged)
    chosen = recommendations(frame, judged, timing, goal)
    shipped = choose(judged, timing, goal)
    curves = tuning_curves(tuning or [], timing)
    write_text(frame.drop(columns=["pareto", "build"]).to_csv(index=False), csv)
    context = report_context(timing, baseline_weights, split, images, config_hash)
    for curve in curves:  # where each database's schedules came from (seed replays, search)
        context[f"TVM schedules, {curve['label']}"] = curve["origin"]
    first_line = answer({**shipped, "batch": timing["settings"].get("throughput_batch")}, frame, timing["env"]["isa"])
    write_text(markdown_summary(frame, chosen, context, first_line), markdown)
    chart_dir = Path(chart_dir)
    chart_dir.mkdir(parents=True, exist_ok=True)
    for name, chart in build_charts(frame, curves, EXPORT_WIDTH, goal.max_drop).items():
        spec = chart.to_dict()
        (chart_dir / f"{name}.svg").write_text(vlc.vegalite_to_svg(spec), encoding="utf-8")
        (chart_dir / f"{name}.png").write_bytes(vlc.vegalite_to_png(spec, scale=2))
    page = render_html(frame, build_charts(frame, curves, "container", goal.max_drop), timing, chosen, context,
                       published_comparison(frame), first_line,
                       target_section(read_json(target_summary) if target_summary else None))
    write_text(page, html_path)
    return frame
