"""OpenVINO on the CPU: an ONNX file or OpenVINO IR, compiled for one latency stream."""

from __future__ import annotations

from pathlib import Path

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


def open_artifact(path: str, threads: int, note_key: str = NOTE_KEY):
    """The runner, and the artifact's note under `note_key` (None without one). Self-contained
    but for `settings`: a deploy bundle's predict.py carries both functions' source."""
    import numpy as np
    import openvino

    core = openvino.Core()
    model = core.read_model(str(path))
    note = model.get_rt_info(note_key).astype(str) if model.has_rt_info(note_key) else None
    request = core.compile_model(model, "CPU", settings(threads)).create_infer_request()

    def run(images: np.ndarray) -> np.ndarray:
        # The graph was exported with a dynamic batch axis; copy, as the request reuses buffers.
        return np.array(request.infer({0: np.ascontiguousarray(images)})[0], copy=True)

    return run, note


def load(path: str | Path, threads: int):
    run, note = open_artifact(str(path), threads)
    check_built_for(path, note, onednn=True)
    return run
