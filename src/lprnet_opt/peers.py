"""Peer runtimes a user would otherwise pick, as variants measured by the same harness:
ONNX Runtime fp32 (from the rewritten model; the original MaxPool3d does not export),
OpenVINO on the same ONNX file, and torch.compile."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .model import IMAGE_HEIGHT, IMAGE_WIDTH, LPRNet, fold_batchnorm


def export_onnx(model: LPRNet, path: str | Path) -> None:
    """Export the folded model (`fold_batchnorm`: no subnormal weights) with a dynamic batch
    axis; written under a temporary name first."""
    tmp = f"{path}.partial"
    example = torch.zeros(1, 3, IMAGE_HEIGHT, IMAGE_WIDTH)
    torch.onnx.export(fold_batchnorm(model), (example,), tmp, dynamo=False, opset_version=17,
                      input_names=["images"], output_names=["logits"],
                      dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})
    os.replace(tmp, path)


def load_onnx_runner(path: str | Path):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # the harness sets it from config
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(images: np.ndarray) -> np.ndarray:
        return session.run(None, {"images": np.ascontiguousarray(images)})[0]

    return run


def load_openvino_runner(path: str | Path):
    """The ONNX file compiled by OpenVINO for this CPU, in fp32 for one latency stream.

    Without the f32 hint OpenVINO runs in bf16 on CPUs that have it, which would not be the
    same model as the others.
    """
    import openvino

    core = openvino.Core()
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": "1",
        "INFERENCE_NUM_THREADS": str(torch.get_num_threads()),  # the harness sets it from config
    })
    request = compiled.create_infer_request()

    def run(images: np.ndarray) -> np.ndarray:
        # The graph was exported with a dynamic batch axis; copy, as the request reuses buffers.
        return np.array(request.infer({0: np.ascontiguousarray(images)})[0], copy=True)

    return run


def load_compiled_runner(path: str | Path):
    """torch.compile (inductor) of the eager model; compiles on the first calls (warm-up)."""
    from .prune import load_pruned_or_dense
    from .runners import torch_runner

    return torch_runner(torch.compile(load_pruned_or_dense(path), dynamic=False))
