"""ONNX Runtime on the CPU execution provider, one session, `threads` intra-op threads."""

from __future__ import annotations

from pathlib import Path

from ..isa import NOTE_KEY, check_built_for


def open_artifact(path: str, threads: int, note_key: str = NOTE_KEY):
    """The runner, and the artifact's note under `note_key` (None without one). Self-contained:
    a deploy bundle's predict.py carries this function's source (deploy/predict_source.py)."""
    import numpy as np
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(images: np.ndarray) -> np.ndarray:
        return session.run(None, {"images": np.ascontiguousarray(images)})[0]

    return run, session.get_modelmeta().custom_metadata_map.get(note_key)


def load(path: str | Path, threads: int):
    run, note = open_artifact(str(path), threads)
    check_built_for(path, note, onednn=False)
    return run
