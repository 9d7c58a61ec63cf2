"""Static INT8 for OpenVINO with its own tool, NNCF post-training quantization (rule openvino_int8).

The input is the fp32 ONNX export that the OpenVINO fp32 peer runs, converted to an OpenVINO
model; the result is OpenVINO IR (`.xml` with its `.bin`). Two choices are measured on the
calibration split (least logit error against fp32) and recorded in the build JSON: the preset
(MIXED: symmetric weights, asymmetric activations; PERFORMANCE: symmetric both) and whether
the global-context normalisation and the container stay fp32 (onnx_quantize.ALWAYS_FP32).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from .onnx_quantize import ALWAYS_FP32
from .runtimes import load_runner, run_batched
from .runtimes.openvino_runtime import settings
from .sensitivity import logit_error

log = logging.getLogger(__name__)

PRESETS = ("MIXED", "PERFORMANCE")
KEEP_FP32 = {"none": [], "context": [f"{prefix}.*" for prefix in ALWAYS_FP32]}


def quantize_openvino(model, images: np.ndarray, preset: str, keep_fp32: str):
    """One NNCF INT8 model (in memory) of the OpenVINO `model`, calibrated on every image of
    `images`; `model` itself is left as it was."""
    import nncf

    dataset = nncf.Dataset([images[i : i + 1] for i in range(len(images))])
    patterns = KEEP_FP32[keep_fp32]
    return nncf.quantize(model.clone(), dataset, preset=getattr(nncf.QuantizationPreset, preset), subset_size=len(images),
                         ignored_scope=nncf.IgnoredScope(patterns=patterns, validate=False) if patterns else None)


def save_ir(model, path: str | Path) -> None:
    """`path` (.xml) and its .bin, both complete or neither: written in a scratch folder, then
    moved, the .bin first so that an .xml on disk always has its weights."""
    import openvino

    path = Path(path)
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        xml = Path(scratch) / path.name
        openvino.save_model(model, str(xml), compress_to_fp16=False)
        xml.with_suffix(".bin").replace(path.with_suffix(".bin"))
        xml.replace(path)


def build_openvino_int8(onnx_path: str | Path, calibration: np.ndarray, threads: int, path: str | Path) -> dict:
    """Quantize each candidate, keep the one closest to fp32 on `calibration`, save it to `path`.

    Returns the build record.
    """
    import nncf
    import openvino

    reference = run_batched(load_runner("openvino_runtime", onnx_path, threads), calibration, 1)
    fp32 = openvino.convert_model(str(onnx_path))
    rows, models = [], {}
    for preset in PRESETS:
        for keep in KEEP_FP32:
            model = quantize_openvino(fp32, calibration, preset, keep)
            with tempfile.TemporaryDirectory() as scratch:
                xml = Path(scratch) / "candidate.xml"
                openvino.save_model(model, str(xml), compress_to_fp16=False)
                logits = run_batched(load_runner("openvino_runtime", xml, threads), calibration, 1)
            rows.append({"preset": preset, "keep_fp32": keep, **logit_error(logits, reference)})
            models[preset, keep] = model
            log.info("nncf %s keep fp32 %s: logit mse %.4f agreement %.4f", preset, keep,
                     rows[-1]["logit_mse"], rows[-1]["agreement"])
    best = min(rows, key=lambda r: r["logit_mse"])
    save_ir(models[best["preset"], best["keep_fp32"]], path)
    return {
        "tool": f"nncf {nncf.__version__} quantize on OpenVINO {openvino.__version__}",
        "preset": best["preset"],
        "fp32_layers": KEEP_FP32[best["keep_fp32"]],
        "candidates": rows,
        "calibration_images": len(calibration),
        "calibration_agreement": best["agreement"],
        "runtime_settings": settings(threads),
    }
