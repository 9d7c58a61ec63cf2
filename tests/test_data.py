from __future__ import annotations

import shutil

import numpy as np
import pytest

from lprnet_opt.chars import CHARS, LabelError, greedy_decode
from lprnet_opt.data import DataError, load_folder, make_split, read_image, split_names
from lprnet_opt.metrics import char_accuracy, plate_accuracy


def test_character_set_matches_lprnet_pytorch():
    assert len(CHARS) == 68 and CHARS[0] == "京" and CHARS[31] == "0" and CHARS[-1] == "-"


def test_greedy_decode_collapses_repeats_and_drops_blanks():
    path = [0, 0, 67, 31, 31, 67, 31, 41]  # 京 京 - 0 0 - 0 A
    logits = np.full((1, 68, len(path)), -1.0)
    logits[0, path, range(len(path))] = 1.0
    assert greedy_decode(logits) == ["京00A"]


def test_metrics():
    assert plate_accuracy(["A1", "B2"], ["A1", "B3"]) == 0.5
    assert char_accuracy(["A1", "B2"], ["A1", "B3"]) == 0.75


def test_folder_reader_labels_and_resizes(tmp_path, plate_folder):
    import cv2

    image = cv2.imread(str(next(plate_folder.iterdir())))
    name = "京A12345-extra.png"
    cv2.imwrite(str(tmp_path / "big.png"), cv2.resize(image, (188, 48)))
    (tmp_path / "big.png").rename(tmp_path / name)
    plates = load_folder(tmp_path)
    assert plates.labels == ["京A12345"] and plates.images.shape == (1, 3, 24, 94)
    assert plates.images.dtype == np.float32 and -1.0 <= plates.images.min() <= plates.images.max() < 1.0


def test_corrupt_image_names_the_file(tmp_path):
    (tmp_path / "京A12345.jpg").write_bytes(b"\xff\xd8 broken jpeg")
    with pytest.raises(DataError, match=r"京A12345\.jpg: unreadable or corrupt image"):
        load_folder(tmp_path)
    with pytest.raises(DataError, match="unreadable"):
        read_image(tmp_path / "京A12345.jpg")


def test_unknown_character_names_the_file(tmp_path, plate_folder):
    shutil.copy(next(plate_folder.iterdir()), tmp_path / "京A1234x.jpg")
    with pytest.raises(LabelError, match=r"京A1234x\.jpg: unknown character\(s\) 'x'"):
        load_folder(tmp_path)


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path}: no images"):
        load_folder(tmp_path)


def test_split_is_stable_disjoint_and_complete():
    names = [f"京A{i:05d}.jpg" for i in range(1000)]
    first = split_names(names, 0.3)
    again = split_names(list(reversed(names)), 0.3)
    assert first == again
    assert not set(first["calibration"]) & set(first["evaluation"])
    assert sorted(first["calibration"] + first["evaluation"]) == sorted(names)
    assert 250 < len(first["calibration"]) < 350


def test_separate_calibration_folder_must_not_overlap(tmp_path, plate_folder):
    calibration = tmp_path / "cal"
    calibration.mkdir()
    shutil.copy(next(plate_folder.iterdir()), calibration / "京A99999.jpg")  # same pixels, new name
    with pytest.raises(DataError, match="config key calibration_images: 1 calibration image"):
        make_split(plate_folder, calibration, 0.3)


def test_fraction_that_empties_the_calibration_split_names_the_key(plate_folder):
    with pytest.raises(DataError, match="config key calibration_fraction"):
        make_split(plate_folder, None, 1e-9)
