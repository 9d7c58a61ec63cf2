"""The ONNX exports: the fp32 graph that ONNX Runtime and OpenVINO run (rule onnx_export), and
the graph the ONNX INT8 builds quantize."""

from __future__ import annotations

from pathlib import Path

import torch

from .atomic import atomic_path
from .geometry import BATCH1_SHAPE
from .model import LPRNet, fold_batchnorm
from .rewrites import fp32_graph, pools_as_depthwise


def export_onnx(model: torch.nn.Module, path: str | Path) -> None:
    """Export the folded model (`fold_batchnorm`: no subnormal weights) with a dynamic batch axis.

    The original MaxPool3d does not export; the rewritten `ChannelStridedMaxPool` does. Folding
    a folded model (`int8_graph`) changes nothing.
    """
    example = torch.zeros(BATCH1_SHAPE)
    with atomic_path(path) as tmp:
        torch.onnx.export(fold_batchnorm(model), (example,), str(tmp), dynamo=False, opset_version=17,
                          input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})


def int8_graph(model: LPRNet) -> LPRNet:
    """The fp32 graph to quantize: folded, strided-pool channels grouped into a prefix and
    context pools as depthwise convs, so that every op between convs stays INT8 in NHWC.
    Measured in ONNX Runtime on the real checkpoint: the strided channel Slice on uint8 NHWC
    took 0.62 ms and the QLinearAveragePools 0.84 ms of a 2.9 ms call; with both rewrites the
    INT8 call took 2.0 ms against 2.4 ms for the fp32 export (docs/int8.md)."""
    return pools_as_depthwise(fp32_graph(model))


def module_of(node: str) -> str:
    """The torch module an exported node came from: `/backbone.4/block/block.0/Conv` ->
    `backbone.4.block.0`, so the report names layers alike for every INT8 build. Each scope
    of the legacy exporter repeats its parent's attribute name before a Sequential index."""
    name = ""
    for part in node.strip("/").split("/")[:-1]:
        parent = name.rsplit(".", 1)[-1]
        name = f"{name}.{part.removeprefix(parent + '.')}" if name else part
    return name
