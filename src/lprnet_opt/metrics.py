"""Accuracy measures over decoded plate strings."""

from __future__ import annotations

from collections.abc import Sequence


def plate_accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    """Share of plates read exactly."""
    return sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth)


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def char_accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    """1 - total edit distance / total label characters (clamped at 0)."""
    errors = sum(edit_distance(p, t) for p, t in zip(predicted, truth, strict=True))
    return max(0.0, 1.0 - errors / sum(len(t) for t in truth))


def agreement(predicted: Sequence[str], reference: Sequence[str]) -> float:
    """Share of images on which two variants give the same plate string."""
    return plate_accuracy(predicted, reference)
