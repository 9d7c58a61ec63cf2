"""How the goal's choice behaves on a finished run, per budget and margin: what ships, and how often
its evaluation drop exceeds the budget when the judge plates are resampled (the noise the margin
is there to absorb: optimistic judge plates and the best of many candidates). docs/goal.md quotes it.

    python -m lprnet_opt.report.margin [results] --budgets 0.5 1 2 --margins 0 0.25 0.5 1 --resamples 2000
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import read_json
from ..measure.stats import budget_verdict, drop_from_counts
from ..record import read_record
from .goal import Goal, choose, judge_drops

SEED = 0


def margin_study(results: Path, budgets: list[float], margins: list[float], resamples: int) -> list[dict]:
    """Per budget and margin: the run's choice with its judge and evaluation drops and verdict, and
    over `resamples` bootstrap resamples of the judge plates (fixed seed) the share of choices whose
    evaluation drop exceeds the budget, and the variants chosen most often."""
    results = Path(results)
    paths = sorted((results / "judge").glob("*.json"))
    judged = judge_drops(paths)
    readings = {r["variant"]: r for r in map(read_json, paths)}
    timing = read_json(results / "timing.json")
    records = {r.variant: r for r in map(read_record, sorted((results / "eval").glob("*.json")))}
    evaluation = {v: drop_from_counts(r.plates_lost, r.plates_gained, r.n_images) for v, r in records.items()}
    names = list(judged)
    correct = np.array([[c == "1" for c in readings[v]["correct"]] for v in names])
    base = correct[names.index("baseline")]
    draws = np.random.default_rng(SEED).integers(0, base.size, size=(resamples, base.size))
    # Every resample's judge drops, as `judge_drops` gives them, for `choose` itself to read.
    resampled = []
    for d in draws:
        lost = (base[d][None, :] & ~correct[:, d]).sum(1)
        gained = (~base[d][None, :] & correct[:, d]).sum(1)
        resampled.append({v: {**drop_from_counts(int(lost[i]), int(gained[i]), base.size), "fit": judged[v]["fit"]}
                          for i, v in enumerate(names)})
    rows = []
    for budget in budgets:
        for margin in margins:
            goal = Goal(budget, "latency", margin)
            picked = choose(judged, timing, goal)
            chosen = [choose(sample, timing, goal)["variant"] for sample in resampled]
            over = np.mean([evaluation[v]["drop_pt"] > budget + 1e-9 for v in chosen])
            drop = evaluation.get(picked["variant"])
            rows.append({"budget": budget, "margin": margin, "ships": picked["variant"],
                         "judge drop": round(picked["judge"]["drop_pt"], 2) if picked["judge"] else None,
                         "eval drop": round(drop["drop_pt"], 2) if drop else None,
                         "verdict": budget_verdict(drop, budget) if drop else None,
                         "resampled: eval over budget": round(float(over), 3),
                         "resampled: chosen most": ", ".join(f"{v} {n / resamples:.0%}"
                                                            for v, n in Counter(chosen).most_common(3))})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, default=Path("results"))
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0])
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    print(pd.DataFrame(margin_study(args.results, args.budgets, args.margins, args.resamples)).to_markdown(index=False))


if __name__ == "__main__":
    main()
