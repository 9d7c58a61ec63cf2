"""Reading LPRNet_Pytorch-format image folders, and the stable calibration/evaluation split.

A folder holds plate images whose file name stem, up to the first `-` or `_`, is the label.
This module is the one place that reads images and turns them into model input.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .chars import encode_label
from .geometry import IMAGE_HEIGHT, IMAGE_WIDTH

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


class DataError(ValueError):
    """An image folder or image that cannot be used; the message names the path."""


@dataclass(frozen=True)
class PlateSet:
    """Images as normalized float32 (N, 3, 24, 94) with their labels and file names."""

    images: np.ndarray
    labels: list[str]
    names: list[str]


def label_from_name(path: Path) -> str:
    return path.stem.split("-")[0].split("_")[0]


def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: image folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder")
    return files


def read_image(path: str | Path) -> np.ndarray:
    """Read one BGR plate image, resized to 94x24, as normalized float32 CHW."""
    path = Path(path)
    raw = np.fromfile(path, dtype=np.uint8)  # np.fromfile copes with non-ASCII names
    image = cv2.imdecode(raw, cv2.IMREAD_COLOR) if raw.size else None
    if image is None:
        raise DataError(f"{path}: unreadable or corrupt image")
    return normalize(image)


def normalize(image_bgr: np.ndarray) -> np.ndarray:
    """The LPRNet_Pytorch preprocessing: resize, (x - 127.5) / 128, HWC -> CHW."""
    if image_bgr.shape[:2] != (IMAGE_HEIGHT, IMAGE_WIDTH):
        image_bgr = cv2.resize(image_bgr, (IMAGE_WIDTH, IMAGE_HEIGHT))
    image = (image_bgr.astype(np.float32) - 127.5) * 0.0078125
    return np.ascontiguousarray(image.transpose(2, 0, 1))


def load_plates(paths: list[Path]) -> PlateSet:
    """Read and label the given image files; errors name the offending file."""
    if not paths:
        raise DataError("no images to load")
    labels = []
    for path in paths:
        label = label_from_name(path)
        encode_label(label, source=str(path))  # validates every character
        labels.append(label)
    images = np.stack([read_image(p) for p in paths])
    return PlateSet(images=images, labels=labels, names=[p.name for p in paths])


def load_folder(folder: str | Path) -> PlateSet:
    return load_plates(list_images(folder))


# Salted: a data set may itself have been sampled by a plain hash of the file names (the
# shared 600-image LPRNet_Pytorch subset was), which would skew an unsalted split.
SPLIT_SALT = "lprnet-opt/split/v1:"


def split_fraction_of(name: str) -> float:
    """A stable number in [0, 1) from the file name alone, so splits never depend on order."""
    digest = hashlib.sha256((SPLIT_SALT + name).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_names(names: list[str], calibration_fraction: float) -> dict[str, list[str]]:
    """Split file names into disjoint calibration and evaluation lists by hash."""
    calibration = sorted(n for n in names if split_fraction_of(n) < calibration_fraction)
    evaluation = sorted(n for n in names if split_fraction_of(n) >= calibration_fraction)
    return {"calibration": calibration, "evaluation": evaluation}


def content_hashes(paths: list[Path]) -> dict[str, Path]:
    return {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in paths}


def calibration_paths(images: str | Path, calibration_images: str | Path | None,
                      calibration_fraction: float) -> list[Path]:
    """The calibration images alone: the separate folder, or the hash share of `images`.

    Reads no evaluation image (only the file names of a shared folder), so that everything
    built, guarded, judged and timed from it (results/data/calibration.json) is unchanged by a
    change of the evaluation images.
    """
    if calibration_images is not None:
        return list_images(calibration_images)
    folder = Path(images)
    names = split_names([p.name for p in list_images(images)], calibration_fraction)["calibration"]
    if not names:
        raise DataError(f"config key calibration_fraction: {calibration_fraction} puts no image of {images} in the calibration split")
    return [folder / n for n in names]


def make_calibration(images: str | Path, calibration_images: str | Path | None, calibration_fraction: float) -> dict:
    """results/data/calibration.json: the calibration part of `make_split`, every image read."""
    calibration = calibration_paths(images, calibration_images, calibration_fraction)
    load_plates(calibration)  # every image decodes and every label is valid, before any job reads them
    return {"calibration": [str(p) for p in calibration],
            "calibration_fraction": None if calibration_images else calibration_fraction,
            "counts": {"calibration": len(calibration)}}


def make_split(images: str | Path, calibration_images: str | Path | None, calibration_fraction: float) -> dict:
    """Calibration and evaluation image paths, checked to share no image (by content) and to
    be readable plates, so bad input stops the run here with one line naming the file.

    With no separate calibration folder, `images` is split by a hash of each file name.
    """
    calibration = calibration_paths(images, calibration_images, calibration_fraction)
    evaluation = list_images(images)
    if calibration_images is None:
        chosen = set(calibration)
        evaluation = [p for p in evaluation if p not in chosen]
        if not evaluation:
            raise DataError(f"config key calibration_fraction: {calibration_fraction} puts no image of {images} in the evaluation split")
    else:
        shared = content_hashes(calibration).keys() & content_hashes(evaluation).keys()
        if shared:
            raise DataError(
                f"config key calibration_images: {len(shared)} calibration image(s) in {calibration_images} "
                f"are also evaluation images in {images}"
            )
    for paths in (calibration, evaluation):
        load_plates(paths)  # every image decodes and every label is valid, before any job reads them
    return {
        "calibration": [str(p) for p in calibration],
        "evaluation": [str(p) for p in evaluation],
        "calibration_fraction": None if calibration_images else calibration_fraction,
        "counts": {"calibration": len(calibration), "evaluation": len(evaluation)},
    }


def read_split(path: str | Path, part: str) -> PlateSet:
    """Load one part ('calibration' or 'evaluation') of a split written by `make_split` (or the
    calibration part written by `make_calibration`)."""
    record = json.loads(Path(path).read_text(encoding="utf-8"))
    return load_plates([Path(p) for p in record[part]])
