"""The ONNX export that the ONNX Runtime and OpenVINO variants run (rule onnx_export)."""

from __future__ import annotations

from pathlib import Path

import torch

from .atomic import atomic_path
from .geometry import BATCH1_SHAPE
from .model import LPRNet, fold_batchnorm


def export_onnx(model: LPRNet, path: str | Path) -> None:
    """Export the folded model (`fold_batchnorm`: no subnormal weights) with a dynamic batch axis.

    The original MaxPool3d does not export; the rewritten `ChannelStridedMaxPool` does.
    """
    example = torch.zeros(BATCH1_SHAPE)
    with atomic_path(path) as tmp:
        torch.onnx.export(fold_batchnorm(model), (example,), str(tmp), dynamo=False, opset_version=17,
                          input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})
