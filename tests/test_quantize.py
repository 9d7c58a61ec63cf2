from __future__ import annotations

import subprocess
import sys

import numpy as np

from lprnet_opt.model import load_lprnet
from lprnet_opt.quantize import ALWAYS_FP32, build_quantized


def test_quantized_artifact_runs_from_its_file_alone(random_weights, tmp_path):
    rng = np.random.default_rng(1)
    calibration = rng.uniform(-1, 1, (16, 3, 24, 94)).astype(np.float32)
    path = tmp_path / "quantized.pt"
    info = build_quantized(lambda: load_lprnet(random_weights), calibration, 1, 8, path)
    assert set(ALWAYS_FP32) <= set(info["fp32_layers"])
    assert len(info["sensitivity"]) == 16  # the fully quantized row plus one per candidate conv
    np.save(tmp_path / "x.npy", calibration[:2])
    # A fresh interpreter with only torch: no project code on the path.
    script = (
        "import sys, numpy as np, torch; "
        "m = torch.jit.load(sys.argv[1]); "
        "y = m(torch.from_numpy(np.load(sys.argv[2]))); "
        "assert y.shape == (2, 68, 18), y.shape; print('ok')"
    )
    out = subprocess.run([sys.executable, "-I", "-c", script, str(path), str(tmp_path / "x.npy")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "lprnet_opt" not in out.stderr
    assert path.stat().st_size < 0.5 * random_weights.stat().st_size
