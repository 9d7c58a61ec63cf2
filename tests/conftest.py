from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from lprnet_opt.synth import write_synthetic_folder

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LPRNET_SHARED", REPO.parent / "shared")) / "lprnet_pytorch"
REAL_WEIGHTS = SHARED / "Final_LPRNet_model.pth"
REAL_IMAGES = SHARED / "test"


@pytest.fixture(scope="session")
def real_weights() -> Path:
    if not REAL_WEIGHTS.is_file():
        pytest.skip(f"{REAL_WEIGHTS} absent (../shared is not beside this checkout)")
    return REAL_WEIGHTS


@pytest.fixture(scope="session")
def real_images() -> Path:
    if not REAL_IMAGES.is_dir():
        pytest.skip(f"{REAL_IMAGES} absent (../shared is not beside this checkout)")
    return REAL_IMAGES


@pytest.fixture(scope="session")
def plate_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plates")
    write_synthetic_folder(folder, 24, seed=7)
    return folder


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory) -> Path:
    from lprnet_opt.model import LPRNet

    torch.manual_seed(0)
    model = LPRNet()
    # Non-trivial BatchNorm statistics, so folding and quantization see real ranges.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("weights") / "random.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (6, 3, 24, 94)).astype(np.float32)
