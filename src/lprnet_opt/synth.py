"""Synthetic Chinese licence plates in LPRNet_Pytorch folder format, from a seed.

Blue (white text), yellow (black text) and green new-energy (8 characters) plates are drawn
large with OpenCV's Hershey font, then rotated, perspective-warped, blurred, noised and
re-lit before being shrunk to 94x24. OpenCV has no CJK font and the project ships none, so
each province is drawn as a fixed stroke pattern of its own: a consistent glyph the network
can learn, not the real character.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .chars import DIGITS, LETTERS, PROVINCES, encode_label
from .geometry import IMAGE_HEIGHT, IMAGE_WIDTH

PLATE_W, PLATE_H = 376, 96  # 4x the model input
STYLES = {  # background BGR, text BGR, plate length
    "blue": ((160, 60, 10), (245, 245, 245), 7),
    "yellow": ((20, 190, 230), (20, 20, 20), 7),
    "green": ((120, 200, 90), (20, 20, 20), 8),
}
STYLE_WEIGHTS = (0.6, 0.15, 0.25)


def random_label(rng: np.random.Generator, length: int) -> str:
    alnum = DIGITS + LETTERS
    tail = [alnum[i] for i in rng.integers(0, len(alnum), length - 2)]
    if length == 8:  # new-energy plates carry D or F
        tail[0] = "DF"[rng.integers(0, 2)]
    return PROVINCES[rng.integers(0, len(PROVINCES))] + LETTERS[rng.integers(0, len(LETTERS))] + "".join(tail)


def draw_province(canvas: np.ndarray, index: int, box: tuple[int, int, int, int], color, thick: int) -> None:
    """Draw province `index` as strokes fixed by the index, so every plate shows the same glyph."""
    x0, y0, w, h = box
    rng = np.random.default_rng(1000 + index)
    for _ in range(4 + index % 3):
        p = rng.uniform(0.1, 0.9, size=4)
        a = (int(x0 + p[0] * w), int(y0 + p[1] * h))
        b = (int(x0 + p[2] * w), int(y0 + p[3] * h))
        cv2.line(canvas, a, b, color, thick, cv2.LINE_AA)


def render_plate(label: str, style: str, rng: np.random.Generator) -> np.ndarray:
    background, text, _ = STYLES[style]
    plate = np.empty((PLATE_H, PLATE_W, 3), np.uint8)
    plate[:] = np.clip(np.array(background) + rng.integers(-25, 26, 3), 0, 255)
    if style == "green":  # new-energy plates fade from white to green
        fade = np.linspace(1.0, 0.0, PLATE_H)[:, None, None]
        plate[:] = (plate * (1 - fade * 0.6) + 255 * fade * 0.6).astype(np.uint8)
    cv2.rectangle(plate, (3, 3), (PLATE_W - 4, PLATE_H - 4), text, 2)
    slot = (PLATE_W - 24) / len(label)
    thick = int(rng.integers(5, 8))
    for i, ch in enumerate(label):
        x = int(12 + i * slot + (8 if i >= 2 else 0))
        if i == 0:
            draw_province(plate, PROVINCES.index(ch), (x, 14, int(slot) - 4, PLATE_H - 28), text, thick - 2)
            continue
        (tw, th), _ = cv2.getTextSize(ch, cv2.FONT_HERSHEY_SIMPLEX, 2.2, thick)
        org = (x + (int(slot) - tw) // 2, (PLATE_H + th) // 2)
        cv2.putText(plate, ch, org, cv2.FONT_HERSHEY_SIMPLEX, 2.2, text, thick, cv2.LINE_AA)
    cv2.circle(plate, (int(12 + 2 * slot), PLATE_H // 2), 4, text, -1)
    return plate


def distort(plate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Perspective jitter with a small rotation, then blur, light change and sensor noise."""
    h, w = plate.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = rng.uniform(-0.06, 0.06, (4, 2)) * [w, h]
    angle = np.deg2rad(rng.uniform(-4, 4))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([w / 2, h / 2])
    dst = ((src - centre) @ rot.T + centre + jitter).astype(np.float32)
    margin = rng.uniform(0.0, 0.08, 2) * [w, h]
    surround = rng.integers(0, 256, 3).tolist()
    frame = cv2.warpPerspective(plate, cv2.getPerspectiveTransform(src, dst + margin.astype(np.float32)),
                                (int(w + 2 * margin[0]), int(h + 2 * margin[1])),
                                borderMode=cv2.BORDER_CONSTANT, borderValue=surround)
    small = cv2.resize(frame, (IMAGE_WIDTH, IMAGE_HEIGHT), interpolation=cv2.INTER_AREA)
    sigma = rng.uniform(0.1, 1.1)
    small = cv2.GaussianBlur(small, (3, 3), sigma).astype(np.float32)
    small = small * rng.uniform(0.5, 1.3) + rng.uniform(-30, 30)
    small += rng.normal(0, rng.uniform(1, 9), small.shape)
    return np.clip(small, 0, 255).astype(np.uint8)


def synthesize(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    style = rng.choice(list(STYLES), p=STYLE_WEIGHTS)
    label = random_label(rng, STYLES[style][2])
    return label, distort(render_plate(label, style, rng), rng)


def write_synthetic_folder(folder: str | Path, count: int, seed: int) -> list[str]:
    """Write `count` plates as `<label>_<index>.jpg`; the same seed gives the same files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = []
    for i in range(count):
        label, image = synthesize(rng)
        encode_label(label)  # the generator only uses known characters; keep it honest
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise RuntimeError(f"could not encode synthetic plate {i}")
        data.tofile(folder / f"{label}_{i:06d}.jpg")
        labels.append(label)
    return labels
