"""Label placement for charts that label points: a pure function of positions, tested on many close points."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lprnet_opt.report.labels import Box, POINT_RADIUS_PX, leader, place_labels


def overlaps(boxes: list[Box], points: list[tuple[float, float]]) -> list[tuple]:
    found = [(i, j) for i, j in itertools.combinations(range(len(boxes)), 2) if boxes[i].intersects(boxes[j])]
    r = POINT_RADIUS_PX
    found += [(i, "point", j) for i, box in enumerate(boxes) for j, (x, y) in enumerate(points)
              if box.intersects(Box(x - r, y - r, x + r, y + r))]
    return found


def crossings(boxes: list[Box], points: list[tuple[float, float]]) -> list[tuple[int, int]]:
    return [(i, j) for i, (p, box) in enumerate(zip(points, boxes)) for j, other in enumerate(boxes)
            if i != j and other.crossed_by(*leader(p, box))]


@pytest.mark.parametrize("seed", range(6))
def test_no_two_labels_intersect_among_many_close_points(seed):
    rng = np.random.default_rng(seed)
    # The default run's shape: about 17 variants, several within a few pixels of each other.
    cluster = [(300 + rng.normal(0, 6), 150 + rng.normal(0, 6)) for _ in range(8)]
    spread = [(rng.uniform(20, 620), rng.uniform(20, 280)) for _ in range(9)]
    points = cluster + spread
    names = [f"variant_{'x' * int(rng.integers(3, 22))}" for _ in points]
    labels = place_labels(points, names, (640, 300))
    boxes = [label.box for label in labels]
    assert overlaps(boxes, points) == []
    # A name stands only beside its point; every other point is numbered, and the key names it.
    numbered = [label for label in labels if label.key is not None]
    assert sorted(int(label.text) for label in numbered) == list(range(1, len(numbered) + 1))
    assert sorted(label.key or label.text for label in labels) == sorted(names)


def test_the_default_runs_positions_get_readable_labels_and_clear_leaders():
    """The default run's accuracy-against-latency positions (pixels, 2026-12-06): names where
    there is room, numbers in the crowd near 1 ms, and no leader line through a label."""
    points = [(40, 118), (42, 125), (45, 118), (48, 125), (60, 110), (84, 125), (120, 118), (125, 125),
              (150, 112), (158, 118), (162, 125), (330, 118), (335, 125), (580, 118), (585, 122)]
    names = ["channel_pruned_onnx_int8", "channel_pruned_openvino_bf16", "openvino_int8", "onnx_int8",
             "openvino_bf16", "channel_pruned_onnx", "pruned_mlc", "mlc", "onnxruntime", "openvino", "quantized",
             "channel_pruned", "torch_compile", "baseline", "pruned"]
    labels = place_labels(points, names, (640, 300))
    boxes = [label.box for label in labels]
    assert overlaps(boxes, points) == [] and crossings(boxes, points) == []
    assert sum(label.key is None for label in labels) >= len(labels) // 2  # most keep their names


def test_identical_points_still_get_separate_labels():
    points = [(320.0, 150.0)] * 5
    labels = place_labels(points, ["onnxruntime", "openvino", "mlc", "openvino_bf16", "torch_compile"], (640, 300))
    assert overlaps([label.box for label in labels], []) == []


def test_a_lone_point_keeps_its_name_beside_it():
    (label,) = place_labels([(100.0, 100.0)], ["baseline"], (640, 300))
    assert label.text == "baseline" and label.key is None
    assert label.box.left > 100 and label.box.top < 100 < label.box.bottom  # to the right, on its line


def test_points_and_labels_must_pair():
    with pytest.raises(ValueError, match="2 points for 1 labels"):
        place_labels([(0, 0), (1, 1)], ["a"], (10, 10))
