"""Goal-driven channel pruning: the largest MAC cut whose estimated accuracy drop stays within
the user's budget (`max_drop`, points of exact-plate accuracy against the source).

The estimate is judged on images that are never evaluated: the calibration split, plus the
generated plates when the images themselves are generated (the same distribution). Generated
plates are not used for a real image folder: a real model reads them poorly, so they would add
images that cannot lose a plate and dilute a real loss. Each candidate is a one-shot cut of the
source, without recovery, so the search judges exactly the model the build then distils once;
distillation is kept only when it brings the logits closer, so the shipped drop is expected at
or below the estimate (the evaluation split measures it).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ..chars import greedy_decode
from ..checkpoint import load_model
from ..coupling import count_macs
from ..data import PlateSet
from ..measure.stats import paired_drop, verdict_sentence
from ..model import LPRNet, predict_logits
from .channel_prune import CRITERIA, activation_stats, allocate, build_channel_pruned, channel_scores, slim_copy
from .distill import DistillSettings
from .sensitivity import logit_error

log = logging.getLogger(__name__)
COARSE_STEP = 0.1  # MACs ratios tried upward first
FINE_STEP = 0.025  # then halved between the last that met the budget and the first that did not
MAX_RATIO = 0.9


class CutJudge:
    """One-shot cuts of `source` to a MACs ratio, each with the criterion whose calibration
    logits stay closest to the source's (as in `build_channel_pruned`), judged for plates."""

    def __init__(self, source: LPRNet, calibration: np.ndarray, stat_images: np.ndarray, judge_images: np.ndarray,
                 judge_labels: list[str]) -> None:
        self.source = source
        self.calibration = calibration
        self.stats = activation_stats(source, stat_images)
        self.scores = {c: channel_scores(source, c, self.stats) for c in CRITERIA}
        self.reference = predict_logits(source, calibration)
        self.images, self.labels = judge_images, judge_labels
        self.source_correct = self.correct(source)
        self.source_macs = count_macs(source.widths, source.num_classes)

    def correct(self, model: LPRNet) -> np.ndarray:
        plates = greedy_decode(predict_logits(model, self.images))
        return np.array([p == t for p, t in zip(plates, self.labels, strict=True)])

    def cut(self, ratio: float) -> dict:
        start = time.perf_counter()
        target = round(self.source_macs * (1 - ratio))
        errors, models = {}, {}
        for criterion in CRITERIA:
            models[criterion] = slim_copy(self.source, allocate(self.source, self.scores[criterion], target), self.stats)
            errors[criterion] = logit_error(predict_logits(models[criterion], self.calibration), self.reference)
        criterion = min(errors, key=lambda c: errors[c]["logit_mse"])
        model = models[criterion]
        macs = count_macs(model.widths, model.num_classes)
        row = {"macs_ratio": ratio, "macs": macs, "macs_removed": 1 - macs / self.source_macs, "criterion": criterion,
               "logit_mse": errors[criterion]["logit_mse"], **paired_drop(self.source_correct, self.correct(model))}
        row["seconds"] = round(time.perf_counter() - start, 2)
        return row


def search_ratio(judge: CutJudge, max_drop: float) -> dict:
    """The largest MACs ratio (to FINE_STEP) whose cut's estimated drop is at most `max_drop`.

    Upward in COARSE_STEP until a cut misses the budget, then bisection between the last cut
    that met it and that one. Assumes the drop grows with the cut, which held on both models
    measured (docs/pruning.md); the path records every candidate, so a reader sees it.
    """
    path: list[dict] = []

    def meets(ratio: float) -> bool:
        row = judge.cut(ratio)
        row["meets"] = row["drop_pt"] <= max_drop + 1e-9
        path.append(row)
        log.info("search: macs_ratio %.3f removes %.1f%% of MACs (%s), estimated drop %.2f pt (%d lost, %d gained "
                 "of %d), %s budget %.2f pt, %.1fs", ratio, 100 * row["macs_removed"], row["criterion"],
                 row["drop_pt"], row["lost"], row["gained"], row["images"], "within" if row["meets"] else "over",
                 max_drop, row["seconds"])
        return row["meets"]

    good, bad = 0.0, None
    ratio = COARSE_STEP
    while ratio <= MAX_RATIO + 1e-9:
        if not meets(round(ratio, 4)):
            bad = round(ratio, 4)
            break
        good = round(ratio, 4)
        ratio += COARSE_STEP
    if bad is not None:  # else every coarse step met the budget, up to MAX_RATIO
        while bad - good > FINE_STEP + 1e-9:
            middle = round((good + bad) / 2 / FINE_STEP) * FINE_STEP
            middle = round(min(max(middle, good + FINE_STEP), bad - FINE_STEP), 4)
            if meets(middle):
                good = middle
            else:
                bad = middle
    met = [row for row in path if row["meets"]]
    # No cut meets the budget: the mildest one tried ships, marked goal_met false.
    chosen = max(met, key=lambda r: r["macs_removed"]) if met else min(path, key=lambda r: r["macs_ratio"])
    return {"max_drop": max_drop, "path": path, "chosen": chosen, "goal_met": bool(met)}


def build_to_budget(weights: str | Path, max_drop: float, calibration: PlateSet, extra: PlateSet | None,
                    judge_extra: bool, settings: DistillSettings, path: str | Path, stat_images: int = 512,
                    exact_cut_error: float = 1e-6) -> dict:
    """Search the cut (`search_ratio`), then build it: one step, distilled from the source on
    calibration + `extra` images as `build_channel_pruned` does. `judge_extra`: the generated
    `extra` plates come from the evaluated distribution (synthetic images) and join the judge."""
    start = time.perf_counter()
    source = load_model(weights)
    extra_images = extra.images if extra is not None else calibration.images[:0]
    images = np.concatenate([calibration.images, extra_images])
    judge_images, judge_labels = calibration.images, list(calibration.labels)
    if judge_extra and extra is not None:
        judge_images, judge_labels = images, judge_labels + list(extra.labels)
    judge = CutJudge(source, calibration.images, images[:stat_images], judge_images, judge_labels)
    search = search_ratio(judge, max_drop)
    search_s = time.perf_counter() - start
    chosen = search["chosen"]
    info = build_channel_pruned(weights, chosen["macs_ratio"], calibration.images, extra_images, settings, 1, path,
                                stat_images, exact_cut_error, criterion=chosen["criterion"])
    # The shipped model on the same plates; distillation may have trained on them, so this is
    # no unseen estimate: the search's is (`chosen`), and the evaluation split measures the drop.
    shipped = paired_drop(judge.source_correct, judge.correct(load_model(path)))
    info["search"] = {**search, "judge_images": len(judge_labels),
                      "judged_on": "calibration split" + (" + generated plates" if judge_extra and extra else ""),
                      "certainty": verdict_sentence(chosen, max_drop), "shipped_on_judge_images": shipped,
                      "search_seconds": round(search_s, 1), "build_seconds": round(time.perf_counter() - start - search_s, 1)}
    info["goal_met"] = search["goal_met"]
    log.info("chose macs_ratio %.3f (%.1f%% of MACs removed), estimated drop %.2f pt, budget %.2f pt: %s; %s",
             chosen["macs_ratio"], 100 * chosen["macs_removed"], chosen["drop_pt"], max_drop,
             "goal met" if search["goal_met"] else "GOAL NOT MET, the mildest cut ships", info["search"]["certainty"])
    return info
