"""OpenVINO on the CPU: an ONNX file or OpenVINO IR, compiled for one latency stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..isa import NOTE_KEY, check_built_for


def settings(threads: int) -> dict[str, str]:
    """The compile settings, recorded with every measurement. Without the f32 precision hint
    OpenVINO silently runs fp32 layers in bf16 on CPUs that have it (the AMD EPYC here does),
    which would not be the same model as the others; INT8 layers stay INT8 under it."""
    return {
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": "1",
        "INFERENCE_NUM_THREADS": str(threads),
    }


def load(path: str | Path, threads: int):
    import openvino

    core = openvino.Core()
    model = core.read_model(str(path))
    note = model.get_rt_info(NOTE_KEY).astype(str) if model.has_rt_info(NOTE_KEY) else None
    check_built_for(path, note, onednn=True)
    compiled = core.compile_model(model, "CPU", settings(threads))
    request = compiled.create_infer_request()

    def run(images: np.ndarray) -> np.ndarray:
        # The graph was exported with a dynamic batch axis; copy, as the request reuses buffers.
        return np.array(request.infer({0: np.ascontiguousarray(images)})[0], copy=True)

    return run
