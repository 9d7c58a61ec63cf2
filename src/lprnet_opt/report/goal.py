"""The goal: one accuracy budget on the shipped artifact, and the fastest composition within it.

The choice reads only the judge readings (`results/judge/<variant>.json`: calibration split plus,
with generated images, the generated distillation plates; never evaluation plates) and the timing
stage. A variant qualifies when it is fit and either an exact form of the baseline (kinds.is_exact:
the unpruned fp32 weights in a runtime that does not approximate them) or its judge drop against
the baseline, plus the goal's margin, is at most the budget; the fastest by the paired ratio of
the objective ships. Judge plates are the ones calibration and distillation saw, so an
approximate build's drop is optimistic, and taking the best of many candidates adds a winner's
curse: the margin pays for both (docs/goal.md measures it). An exact form pays no margin, so at
any budget the fastest exact form qualifies, and nothing ships on a noisy negative estimate.

Speed ranks by the median of per-round ratios to ONNX Runtime fp32 (to eager without that peer),
never by milliseconds: the rounds pair every variant under the same machine speed.

The evaluation split only gives the verdict (stats.budget_verdict), from the paired drop against
the baseline on the evaluation plates: changing the evaluation images cannot change the choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..atomic import read_json
from ..measure.stats import budget_verdict, drop_from_counts, paired_drop, verdict_sentence
from .results import choice

OBJECTIVES = ("latency", "throughput")
# Budgets of the report's table besides the goal's own, in points against the baseline.
CONSTRAINTS_PT = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Goal:
    # Points of exact-plate accuracy the shipped artifact may lose against the baseline.
    max_drop: float = 1.0
    # "latency": batch-1 median latency; "throughput": images per second at timing.throughput_batch.
    objective: str = "latency"
    # Points added to each judge drop before it is held against the budget (config goal.margin).
    margin: float = 0.5


def judge_drops(paths) -> dict[str, dict]:
    """Each variant's paired drop against the baseline on the judge plates, with its fitness.
    Readings of other plates than the baseline's are refused, naming the file."""
    readings = {}
    for path in paths:
        reading = read_json(path)
        readings[reading["variant"]] = (str(path), reading)
    if "baseline" not in readings:
        raise ValueError("no judge reading of the baseline (results/judge/baseline.json): every drop is against it")
    base = readings["baseline"][1]
    base_correct = [c == "1" for c in base["correct"]]
    drops = {}
    for variant, (path, reading) in readings.items():
        if reading["images_sha256"] != base["images_sha256"]:
            raise ValueError(f"{path}: read other judge plates than the baseline; rerun rule measure")
        drop = paired_drop(base_correct, [c == "1" for c in reading["correct"]])
        drops[variant] = {**drop, "fit": reading["fit"], "exact": bool(reading.get("exact", False)),
                          "judged_on": reading["judged_on"]}
    return drops


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def speed_field(timing: dict, objective: str) -> str:
    """The timing field that ranks: the paired ratio to ONNX Runtime fp32 when the run has that
    peer, else to eager; of latency, or of throughput (images per second, higher is faster)."""
    stem = "ratio_to_onnxruntime" if timing.get("onnxruntime") else "ratio_to_eager"
    return stem if objective == "latency" else f"throughput_{stem}"


def objective_cost(timed: dict | None, field: str) -> float | None:
    """Lower is better: the latency ratio, or the negated throughput ratio; None without one."""
    value = None if timed is None else timed.get(field)
    if missing(value):
        return None
    return -value if field.startswith("throughput_") else value


def qualified(judged: dict[str, dict], goal: Goal) -> list[str]:
    """Fit variants that are exact forms of the baseline, or whose judge drop plus the margin is
    within the budget."""
    return [v for v, d in judged.items()
            if d["fit"] and (d.get("exact") or d["drop_pt"] + goal.margin <= goal.max_drop + 1e-9)]


def choose(judged: dict[str, dict], timing: dict, goal: Goal) -> dict:
    """The composition to ship under `goal`, from judge drops and timing alone: the qualified one
    with the lowest paired ratio (`speed_field`). An unfit build never ships. None as `variant`
    when the timing run was contended or no qualified variant has a timing."""
    if goal.objective not in OBJECTIVES:
        raise ValueError(f"config key goal.objective: {goal.objective!r}; one of {', '.join(OBJECTIVES)}")
    field = speed_field(timing, goal.objective)
    costs = {} if timing["contended"] else {
        v: c for v in judged if (c := objective_cost(timing["variants"].get(v), field)) is not None}
    allowed = [v for v in qualified(judged, goal) if v in costs]
    entry = {"max_drop": goal.max_drop, "margin": goal.margin, "objective": goal.objective, "ranked_by": field,
             "qualified": sorted(allowed, key=lambda v: (costs[v], v)),
             "only_exact": bool(allowed) and all(judged[v].get("exact") for v in allowed),
             # Exact forms whose plates differ from the baseline's: float rounding that moved a plate.
             "exact_differs": sorted(v for v in allowed if judged[v].get("exact") and judged[v]["lost"] + judged[v]["gained"])}
    if not allowed:
        return {**entry, "variant": None, "goal_met": False, "judge": None, "ties": []}
    best = min(allowed, key=lambda v: (costs[v], v))
    return {**entry, "variant": best, "goal_met": True, "judge": judged[best],
            "ties": not_told_apart(best, allowed, timing, field)}


def not_told_apart(best: str, others: list[str], timing: dict, field: str) -> list[str]:
    """Qualified variants whose bootstrap interval of the ranking ratio overlaps the shipped
    one's: the timing run cannot say which of them is faster. ONNX Runtime, not eager, where the
    run has it: eager PyTorch's round-to-round swing widened every interval to eager (default
    run, 2026-12-06: a 1.42 ms variant overlapped a 0.92 ms one)."""
    low, high = timing["variants"][best][f"{field}_ci"]
    overlaps = (lambda ci: ci[0] <= high) if not field.startswith("throughput_") else (lambda ci: ci[1] >= low)
    return sorted(v for v in others if v != best and timing["variants"][v].get(f"{field}_ci")
                  and overlaps(timing["variants"][v][f"{field}_ci"]))


def evaluation_drop(row) -> dict:
    """A results row's paired drop against the baseline on the evaluation plates."""
    return drop_from_counts(int(row["plates_lost"]), int(row["plates_gained"]), int(row["n_images"]))


def verdict_of(row, max_drop: float) -> tuple[str, str]:
    """The evaluation verdict of a results row against a budget, and the sentence that says it."""
    drop = evaluation_drop(row)
    return budget_verdict(drop, max_drop), verdict_sentence(drop, max_drop)


def answer(choice: dict, frame, context_class: str) -> str:
    """The report's first line: what to ship, how fast, and the evaluation verdict."""
    if choice["variant"] is None:
        return "No composition can be recommended: no fit variant has a valid timing (see the timing note)."
    row = frame.set_index("variant").loc[choice["variant"]]
    drop = evaluation_drop(row)
    verdict = budget_verdict(drop, choice["max_drop"])
    low, high = drop["drop_ci_pt"]
    speed = speed_words(row, choice["objective"])
    ties = (f" Not told apart in speed from {', '.join(choice['ties'])} (overlapping intervals)."
            if choice.get("ties") else "")
    notes = exact_note(choice)
    where = f" ({row['bundle']}/)" if isinstance(row["bundle"], str) else ""
    return (f"Ship {choice['variant']}{where}: {speed}; evaluation drop {drop['drop_pt']:.2f} pt "
            f"[{low:.2f}, {high:.2f}], {verdict} {'with' if verdict in ('within', 'consistent') else 'against'} "
            f"your {choice['max_drop']:g} pt budget; CPU class {context_class}.{ties}{notes}")


def speed_words(row, objective: str) -> str:
    """The ratio that ranked, with its interval, then this machine's milliseconds as description."""
    if objective == "throughput" and not missing(row.get("throughput_ratio_to_onnxruntime")):
        ratio = (f"{row['throughput_ratio_to_onnxruntime']:.2f}x ONNX Runtime fp32's throughput "
                 f"[{row['throughput_ratio_to_onnxruntime_ci_low']:.2f}, {row['throughput_ratio_to_onnxruntime_ci_high']:.2f}]")
        return f"{ratio} ({row['throughput_ips']:.0f} images/s on this machine)"
    if missing(row["ratio_to_onnxruntime"]):
        return f"{row['latency_ms']:.2f} ms, {row['ratio_to_eager']:.2f}x eager PyTorch"
    return (f"{row['ratio_to_onnxruntime']:.2f}x ONNX Runtime fp32 [{row['ratio_to_onnxruntime_ci_low']:.2f}, "
            f"{row['ratio_to_onnxruntime_ci_high']:.2f}] ({row['latency_ms']:.2f} ms on this machine)")


def exact_note(choice: dict) -> str:
    """What the choice's qualifying set says beyond the winner: only exact forms, or exact forms
    whose plates moved."""
    text = ""
    if choice.get("only_exact"):
        text += (f" Only exact forms of the baseline qualified: no approximate build's judge drop plus the "
                 f"{choice['margin']:g} pt margin is within {choice['max_drop']:g} pt.")
    if choice.get("exact_differs"):
        text += (f" Exact forms whose judge plates differ from the baseline's (float rounding): "
                 f"{', '.join(choice['exact_differs'])}.")
    return text


def recommendations(frame, judged: dict[str, dict], timing: dict, goal: Goal) -> list[dict]:
    """Per budget (the goal's and CONSTRAINTS_PT), the composition `choose` ships and the smallest
    that qualifies on the judge plates, each with its evaluation verdict against that budget."""
    rows = frame.set_index("variant", drop=False)
    out = []
    for limit in sorted({*CONSTRAINTS_PT, goal.max_drop}):
        budget = Goal(limit, goal.objective, goal.margin)
        picked = choose(judged, timing, budget)
        entry = {"limit_pt": limit, "is_goal": limit == goal.max_drop, "goal_met": picked["goal_met"],
                 "ship": None, "smallest": None}
        entry["only_exact"] = picked["only_exact"]
        names = qualified(judged, budget)
        for key, name in (("ship", picked["variant"]),
                          ("smallest", min(names, key=lambda v: (rows.loc[v, "size_bytes"], v)) if names else None)):
            if name is not None:
                verdict, sentence = verdict_of(rows.loc[name], limit)
                entry[key] = {**choice(rows.loc[name]), "verdict": verdict, "verdict_text": sentence,
                              "judge_drop_pt": judged[name]["drop_pt"]}
        out.append(entry)
    return out

