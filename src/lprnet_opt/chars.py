"""The LPRNet_Pytorch character set and the one greedy CTC decoder of the project."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The 68-entry list of LPRNet_Pytorch: 31 provinces, 10 digits, 24 letters, I, O, blank.
CHARS: tuple[str, ...] = (
    *"京沪津渝冀晋蒙辽吉黑苏浙皖闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新",
    *"0123456789",
    *"ABCDEFGHJKLMNPQRSTUVWXYZIO",
    "-",
)
NUM_CLASSES = len(CHARS)
BLANK_INDEX = NUM_CLASSES - 1
CHAR_TO_INDEX = {c: i for i, c in enumerate(CHARS)}
PROVINCES = CHARS[:31]
DIGITS = CHARS[31:41]
LETTERS = CHARS[41:65]  # without I and O, as real plates use them


class LabelError(ValueError):
    """A plate label holds a character outside the character set."""


def encode_label(label: str, source: str = "<label>") -> list[int]:
    """Turn a plate string into class indices; `source` names the file in errors."""
    unknown = sorted({c for c in label if c not in CHAR_TO_INDEX or c == CHARS[BLANK_INDEX]})
    if unknown or not label:
        what = f"unknown character(s) {''.join(unknown)!r}" if unknown else "empty label"
        raise LabelError(f"{source}: {what} in label {label!r}")
    return [CHAR_TO_INDEX[c] for c in label]


def greedy_decode(logits: np.ndarray | Sequence) -> list[str]:
    """Decode (N, classes, T) logits: argmax per step, collapse repeats, drop blanks."""
    best = np.asarray(logits).argmax(axis=1)
    plates = []
    for path in best:
        keep = np.ones(len(path), dtype=bool)
        keep[1:] = path[1:] != path[:-1]
        keep &= path != BLANK_INDEX
        plates.append("".join(CHARS[i] for i in path[keep]))
    return plates
