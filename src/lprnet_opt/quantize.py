"""Static INT8 quantization for x86 (FX graph mode, fbgemm), saved as TorchScript.

Per-channel symmetric weights; activations observed on the calibration split only. Which
layers stay fp32 is decided by a measured sensitivity scan, not by hand. Optionally the INT8
model is then fine-tuned quantization-aware, by distillation from the fp32 model on images
that are never evaluation images (off by default: on the real checkpoint it raised agreement
with fp32 but not accuracy; docs/performance.md).
"""

from __future__ import annotations

import logging
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch.ao.quantization import (
    FakeQuantize,
    HistogramObserver,
    PerChannelMinMaxObserver,
    QConfig,
    QConfigMapping,
    get_default_qconfig_mapping,
)
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx, prepare_qat_fx

from .atomic import atomic_path
from .chars import greedy_decode
from .distill import DistillSettings, distill
from .metrics import agreement
from .model import predict_logits

log = logging.getLogger(__name__)
# The global-context division and the 1x1 container mix features of very different scales;
# measured: quantizing them drops the real checkpoint to 0% accuracy.
ALWAYS_FP32 = ("context_norms", "container")
warnings.filterwarnings("ignore", message=".*torch.ao.quantization.*deprecated.*")


# Full 8-bit activations with 7-bit per-channel symmetric weights. On CPUs without VNNI,
# fbgemm multiplies u8 activations by s8 weights with vpmaddubsw, which sums pairs into int16
# and saturates; torch's x86 default avoids that by giving activations 7 bits. Giving the bit
# to the weights instead (2 * 255 * 64 < 32767) avoids it too, and measured on the real
# checkpoint's calibration split it cut the fully-INT8 logit error from 7.76 to 1.80 (mse).
ACTIVATION_RANGE = (0, 255)
WEIGHT_RANGE = (-64, 63)


_ACTIVATION = (HistogramObserver, {"quant_min": ACTIVATION_RANGE[0], "quant_max": ACTIVATION_RANGE[1],
                                   "dtype": torch.quint8, "qscheme": torch.per_tensor_affine})
_WEIGHT = (PerChannelMinMaxObserver, {"quant_min": WEIGHT_RANGE[0], "quant_max": WEIGHT_RANGE[1],
                                      "dtype": torch.qint8, "qscheme": torch.per_channel_symmetric})


def _observers(fake_quant: bool) -> QConfig:
    """The observers above, plain for calibration or as fake-quant modules for fine-tuning.

    torch's default QAT mapping uses moving-average min/max ranges instead, which measured
    worse here than histogram ranges.
    """
    def make(observer, settings):
        return FakeQuantize.with_args(observer=observer, **settings) if fake_quant else observer.with_args(**settings)

    return QConfig(activation=make(*_ACTIVATION), weight=make(*_WEIGHT))


def qconfig_mapping(fp32_modules: list[str], qat: bool = False) -> QConfigMapping:
    mapping = get_default_qconfig_mapping("x86").set_global(_observers(fake_quant=qat))
    for name in fp32_modules:
        mapping = mapping.set_module_name(name, None)
    # The top-level concat of the context features and the final mean over height would
    # otherwise fall under the global qconfig and squeeze the logits into 8 bits.
    return mapping.set_object_type(torch.cat, None).set_object_type("mean", None)


def quantize_model(model: torch.nn.Module, calibration: np.ndarray, fp32_modules: list[str]) -> torch.fx.GraphModule:
    """Prepare, calibrate on `calibration` images only, and convert to INT8."""
    torch.backends.quantized.engine = "x86"
    prepared = prepare_fx(model.eval(), qconfig_mapping(fp32_modules), (torch.from_numpy(calibration[:1]),))
    predict_logits(prepared, calibration)
    return convert_fx(prepared)


def finetune_quantized(model: torch.nn.Module, teacher: torch.nn.Module, calibration: np.ndarray,
                       images: np.ndarray, fp32_modules: list[str], settings: DistillSettings) -> tuple[torch.fx.GraphModule, list[dict]]:
    """Quantization-aware fine-tuning by distillation, then conversion to INT8.

    Activation ranges are observed on the calibration split and then frozen, so training fits
    the weights to them; weight ranges follow the weights. BatchNorm stays in eval mode
    (folded, with the source's statistics) throughout.
    """
    torch.backends.quantized.engine = "x86"
    prepared = prepare_qat_fx(model.train(), qconfig_mapping(fp32_modules, qat=True), (torch.from_numpy(calibration[:1]),))
    prepared.eval()
    with torch.no_grad():
        predict_logits(prepared, calibration)
    for module in prepared.modules():
        if isinstance(module, FakeQuantize) and module.qscheme == torch.per_tensor_affine:
            module.disable_observer()  # activations: keep the calibrated ranges
    history = distill(prepared, teacher, images, settings)
    return convert_fx(prepared.eval()), history


def candidate_layers(model: torch.nn.Module) -> list[str]:
    """Conv layers that may be left in fp32 (those not already fp32 by rule)."""
    return [
        name for name, m in model.named_modules()
        if isinstance(m, torch.nn.Conv2d) and not name.startswith(ALWAYS_FP32)
    ]


def sensitivity_scan(make_model, calibration: np.ndarray, reference_logits: np.ndarray) -> list[dict]:
    """Leave-one-out: logit error against fp32 with everything INT8 but one conv.

    The first row ("none") is the fully quantized model; a layer's `gain` is how much of
    that error disappears when it alone stays fp32.
    """
    layers = candidate_layers(make_model())
    rows = []
    for i, layer in enumerate([None, *layers]):
        fp32 = [*ALWAYS_FP32, *([layer] if layer else [])]
        logits = predict_logits(quantize_model(make_model(), calibration, fp32), calibration)
        mse = float(np.mean((logits - reference_logits) ** 2))
        rows.append({"layer": layer or "none", "logit_mse": mse,
                     "agreement": agreement(greedy_decode(logits), greedy_decode(reference_logits))})
        log.info("sensitivity %d/%d fp32=%s: logit mse %.5f agreement %.4f", i, len(layers),
                 rows[-1]["layer"], mse, rows[-1]["agreement"])
    full_error = rows[0]["logit_mse"]
    for row in rows[1:]:
        row["gain"] = full_error - row["logit_mse"]
    return rows


def choose_fp32_layers(scan: list[dict], max_fp32_layers: int) -> list[str]:
    """The layers whose return to fp32 removes the most logit error, best first."""
    ranked = sorted(scan[1:], key=lambda r: r["gain"], reverse=True)
    return [r["layer"] for r in ranked[:max_fp32_layers] if r["gain"] > 0]


def save_torchscript(quantized: torch.nn.Module, example: np.ndarray, path: str | Path) -> None:
    """Trace and freeze to a file that torch.jit.load runs with no project code."""
    with torch.inference_mode():
        traced = torch.jit.trace(quantized, torch.from_numpy(example[:1]), check_trace=False)
    frozen = torch.jit.freeze(traced.eval())
    with atomic_path(path) as tmp, tempfile.TemporaryDirectory() as scratch:
        stored = Path(scratch) / "stored.pt"
        torch.jit.save(frozen, str(stored))
        deflate_zip(stored, tmp)


def deflate_zip(source: str | Path, target: str | Path) -> None:
    """Re-pack a TorchScript archive with deflate: torch.jit.load reads it as it is, and the
    zeros of pruned INT8 weights (and the code) shrink (measured: 0.66 MB -> 0.24 MB)."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))


def build_quantized(make_model, calibration: np.ndarray, finetune_images: np.ndarray, finetune: DistillSettings,
                    max_fp32_layers: int, scan_images: int, path: str | Path) -> dict:
    """Scan sensitivity, leave the worst layers fp32, quantize (and fine-tune), save.

    Returns the build record. With `finetune.epochs == 0` this is plain calibration.
    """
    reference = greedy_decode(predict_logits(make_model(), calibration))
    subset = calibration[:scan_images]
    scan = sensitivity_scan(make_model, subset, predict_logits(make_model(), subset)) if max_fp32_layers > 0 else []
    fp32_layers = choose_fp32_layers(scan, max_fp32_layers) + list(ALWAYS_FP32)
    history = []
    if finetune.epochs > 0:
        quantized, history = finetune_quantized(make_model(), make_model(), calibration, finetune_images, fp32_layers, finetune)
    else:
        quantized = quantize_model(make_model(), calibration, fp32_layers)
    save_torchscript(quantized, calibration, path)
    plates = greedy_decode(predict_logits(torch.jit.load(str(path)), calibration))
    return {
        "fp32_layers": fp32_layers,
        "sensitivity": scan,
        "calibration_images": len(calibration),
        "calibration_agreement": agreement(plates, reference),
        "finetune": {"images": len(finetune_images) if finetune.epochs else 0, "settings": finetune.__dict__, "history": history},
        "backend": "x86 (fbgemm), FX graph mode, TorchScript",
    }
