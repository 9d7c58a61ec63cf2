from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from lprnet_opt.data import load_folder
from lprnet_opt.distill import DistillSettings
from lprnet_opt.checkpoint import load_model
from lprnet_opt.model import predict_logits
from lprnet_opt.quantize import ALWAYS_FP32, build_quantized, finetune_quantized, quantize_model
from lprnet_opt.synth import write_synthetic_folder

NO_FINETUNE = DistillSettings(epochs=0, batch_size=8, learning_rate=1e-4, temperature=2.0, seed=0)


def test_quantized_artifact_runs_from_its_file_alone(random_weights, tmp_path):
    rng = np.random.default_rng(1)
    calibration = rng.uniform(-1, 1, (16, 3, 24, 94)).astype(np.float32)
    path = tmp_path / "quantized.pt"
    info = build_quantized(lambda: load_model(random_weights), calibration, calibration, NO_FINETUNE, 1, 8, path)
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
    # INT8 is a quarter of fp32; the convs the scan kept in fp32 (on random weights it may pick
    # the largest) keep their full size.
    fp32_bytes = sum(p.numel() * 4 for name, p in load_model(random_weights).named_parameters()
                     if name.startswith(tuple(info["fp32_layers"])))
    assert path.stat().st_size < 0.35 * random_weights.stat().st_size + fp32_bytes


def test_finetuning_brings_int8_closer_to_fp32(tmp_path):
    # The shipped synthetic baseline: a trained model, whose INT8 error is real.
    weights = Path(__file__).resolve().parents[1] / "data" / "baseline_synthetic.pth"
    write_synthetic_folder(tmp_path, 80, seed=11)
    images = load_folder(tmp_path).images
    calibration, held_out = images[:64], images[64:]
    teacher = load_model(weights)
    reference = predict_logits(teacher, held_out)
    fp32 = list(ALWAYS_FP32)
    calibrated = quantize_model(load_model(weights), calibration, fp32)
    settings = DistillSettings(epochs=2, batch_size=16, learning_rate=2e-5, temperature=2.0, seed=0)
    tuned, history = finetune_quantized(load_model(weights), teacher, calibration, calibration, fp32, settings)
    assert [h["epoch"] for h in history] == [1, 2]
    error = {name: float(np.mean((predict_logits(m, held_out) - reference) ** 2))
             for name, m in (("calibrated", calibrated), ("tuned", tuned))}
    assert error["tuned"] < error["calibrated"], error


def quantized_conv_error(weight_range: tuple[int, int]) -> float:
    """Worst-case u8 x s8 products through fbgemm, against the same integers multiplied in fp32."""
    import torch

    torch.backends.quantized.engine = "x86"
    conv = torch.ao.nn.quantized.Conv2d(64, 1, 1)
    weight = torch.quantize_per_channel(torch.full((1, 64, 1, 1), float(weight_range[1])), torch.ones(1),
                                        torch.zeros(1, dtype=torch.long), 0, torch.qint8)
    conv.set_weight_bias(weight, None)
    conv.scale, conv.zero_point = 2.0**13, 0  # 255 steps cover the largest exact output
    image = torch.quantize_per_tensor(torch.full((1, 64, 1, 1), 255.0), 1.0, 0, torch.quint8)
    exact = 255.0 * weight_range[1] * 64
    return abs(conv(image).dequantize().item() - exact) / exact


def test_int8_bit_split_does_not_saturate_fbgemm():
    # Full-range s8 weights can overflow the int16 pair sums on CPUs without VNNI; the 7-bit
    # weights the quantizer uses cannot. The output is rounded to an 8192-wide step.
    from lprnet_opt.quantize import ACTIVATION_RANGE, WEIGHT_RANGE

    assert ACTIVATION_RANGE == (0, 255) and 2 * 255 * max(abs(w) for w in WEIGHT_RANGE) <= 32767
    assert quantized_conv_error(WEIGHT_RANGE) < 0.01
