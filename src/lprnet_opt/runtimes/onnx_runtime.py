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


def read_back(path: str | Path) -> dict:
    """What the model file runs in: per conv, int8 when its weight comes through a
    DequantizeLinear (QDQ) or the conv is a quantized operator, else fp32. {} for a float
    model, whose precision is the runtime's fixed f32."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    producer = {out: node.op_type for node in graph.node for out in node.output}
    convs = [n for n in graph.node if n.op_type in ("Conv", "QLinearConv", "ConvInteger")]
    int8 = sum(1 for n in convs if n.op_type != "Conv" or producer.get(n.input[1]) == "DequantizeLinear")
    if not int8:
        return {}
    return {"requested": "int8", "ran": "int8" if int8 == len(convs) else "mixed", "int8_convs": int8,
            "fp32_convs": len(convs) - int8}


def load(path: str | Path, threads: int):
    run, note = open_artifact(str(path), threads)
    check_built_for(path, note, onednn=False)
    precision = read_back(path)
    if precision:
        run.precision = precision
    return run
