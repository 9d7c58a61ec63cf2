"""ONNX Runtime on the CPU execution provider, one session, `threads` intra-op threads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..isa import NOTE_KEY, check_built_for


def load(path: str | Path, threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    check_built_for(path, session.get_modelmeta().custom_metadata_map.get(NOTE_KEY), onednn=False)

    def run(images: np.ndarray) -> np.ndarray:
        return session.run(None, {"images": np.ascontiguousarray(images)})[0]

    return run
