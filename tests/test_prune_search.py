"""The channel-pruning search under an accuracy budget (max_drop), on 48 generated plates.

The source is the shipped synthetic baseline (a random LPRNet reads every plate as blank, and
so does any cut of it). The judge's labels are the source's own plates, read by the project's
model and decoder: the source then reads every judged plate right, and each plate a cut
changes counts as lost."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import REPO
from lprnet_opt.chars import greedy_decode
from lprnet_opt.checkpoint import load_model
from lprnet_opt.compress.distill import DistillSettings
from lprnet_opt.compress.prune_search import build_to_budget
from lprnet_opt.measure.stats import paired_drop
from lprnet_opt.data import PlateSet
from lprnet_opt.model import predict_logits

NO_DISTILLATION = DistillSettings(epochs=0, batch_size=4, learning_rate=1e-4, temperature=2.0, seed=0)


SOURCE = REPO / "data/baseline_synthetic.pth"


@pytest.fixture(scope="module")
def own_plates(tmp_path_factory) -> PlateSet:
    from lprnet_opt.data import load_folder
    from lprnet_opt.synth import write_synthetic_folder

    folder = tmp_path_factory.mktemp("plates")
    write_synthetic_folder(folder, 48, seed=11)
    images = load_folder(folder).images
    labels = greedy_decode(predict_logits(load_model(SOURCE), images))
    return PlateSet(images=images, labels=labels, names=[f"{i}.png" for i in range(len(labels))])


def search(weights, budget: float, plates: PlateSet, path) -> dict:
    return build_to_budget(weights, budget, plates, None, False, NO_DISTILLATION, path, stat_images=48)


def test_a_larger_budget_buys_a_larger_cut(own_plates, tmp_path):
    tight = search(SOURCE, 5.0, own_plates, tmp_path / "tight.pt")
    loose = search(SOURCE, 60.0, own_plates, tmp_path / "loose.pt")
    assert tight["goal_met"] and loose["goal_met"]
    assert loose["macs_removed"] > tight["macs_removed"] > 0
    for info, budget in ((tight, 5.0), (loose, 60.0)):
        chosen, path = info["search"]["chosen"], info["search"]["path"]
        assert chosen["drop_pt"] <= budget and chosen in path
        # The largest cut on the path within the budget, and the one that was built.
        assert chosen["macs_removed"] == max(r["macs_removed"] for r in path if r["drop_pt"] <= budget)
        assert info["macs_ratio"] == chosen["macs_ratio"] and info["macs"] == chosen["macs"]
        assert info["steps"] == 1 and info["search"]["judge_images"] == 48
        assert all(r["images"] == 48 and r["seconds"] >= 0 and r["criterion"] for r in path)


def test_a_budget_no_cut_meets_keeps_the_mildest_cut_and_says_so(own_plates, tmp_path):
    info = search(SOURCE, -1.0, own_plates, tmp_path / "none.pt")  # the source reads every plate: drop >= 0
    assert not info["goal_met"]
    mildest = min(r["macs_ratio"] for r in info["search"]["path"])
    assert info["macs_ratio"] == mildest == 0.025
    assert info["search"]["certainty"].startswith(("over", "inconclusive"))
    assert load_model(tmp_path / "none.pt").widths.key() == info["widths"]


def test_paired_drop_counts_lost_and_gained_plates():
    source = np.array([True] * 8 + [False] * 2)
    candidate = np.array([True] * 6 + [False] * 2 + [True, False])
    drop = paired_drop(source, candidate)
    assert (drop["lost"], drop["gained"], drop["images"]) == (2, 1, 10)
    assert drop["drop_pt"] == pytest.approx(10.0) and drop["drop_ci_pt"][0] < 10.0 < drop["drop_ci_pt"][1]


def test_no_changed_plate_still_leaves_an_interval():
    same = np.ones(186, dtype=bool)
    low, high = paired_drop(same, same)["drop_ci_pt"]
    assert low < 0 < high and high == pytest.approx(100 * 1.959964 / 188, rel=1e-3)  # about one plate in 186
