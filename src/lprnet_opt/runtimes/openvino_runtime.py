"""OpenVINO on the CPU: the ONNX file compiled in fp32 for one latency stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load(path: str | Path, threads: int):
    """Without the f32 hint OpenVINO runs in bf16 on CPUs that have it, which would not be
    the same model as the others."""
    import openvino

    core = openvino.Core()
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": "1",
        "INFERENCE_NUM_THREADS": str(threads),
    })
    request = compiled.create_infer_request()

    def run(images: np.ndarray) -> np.ndarray:
        # The graph was exported with a dynamic batch axis; copy, as the request reuses buffers.
        return np.array(request.infer({0: np.ascontiguousarray(images)})[0], copy=True)

    return run
