"""OpenVINO on the CPU: an ONNX file or OpenVINO IR, compiled for one latency stream, in f32 or bf16."""

from __future__ import annotations

from pathlib import Path

from ..isa import NOTE_KEY, check_built_for


def settings(threads: int, precision: str = "f32") -> dict[str, str]:
    """The compile settings, recorded with every measurement. The precision hint is always set:
    without it OpenVINO silently runs fp32 layers in bf16 on CPUs it deems bf16-capable (every
    AVX-512 CPU, emulated where the CPU lacks avx512_bf16), which would not be the variant the
    config names. INT8 layers stay INT8 under either hint. f16 is OpenVINO's default on Armv8.2+
    CPUs; only a target's bundles ask for it (targets.py TARGET_PRECISIONS)."""
    if precision not in ("f32", "bf16", "f16"):  # kinds.FLOAT_PRECISIONS and f16; a bundle carries this source alone
        raise ValueError(f"OpenVINO precision {precision!r}: f32, bf16 or f16")
    return {
        "INFERENCE_PRECISION_HINT": precision,
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": "1",
        "INFERENCE_NUM_THREADS": str(threads),
    }


def read_back(compiled, requested: str) -> dict:
    """What the compiled model runs, read from OpenVINO, not inferred from the CPU: the precision
    hint it settled on, and per conv of its execution graph the precision and kernel. OpenVINO
    decides at every compile, so this is read where the model is loaded. A CPU without bf16
    support keeps f32 under a bf16 hint; one with AVX-512 but no bf16 instructions emulates it
    (kernels `jit_avx512_*bf16` instead of `brgconv_avx512_*bf16`, 2.2x slower than f32 here)."""
    precisions: dict[str, int] = {}
    kernels: dict[str, int] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if "layerType" not in info or info["layerType"].astype(str) != "Convolution":
            continue
        precision, kernel = info["runtimePrecision"].astype(str), info["primitiveType"].astype(str)
        precisions[precision] = precisions.get(precision, 0) + 1
        kernels[kernel] = kernels.get(kernel, 0) + 1
    hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    ran = next(iter(precisions)) if len(precisions) == 1 else "mixed"
    return {"requested": requested, "inference_precision": hint, "ran": ran, "conv_precisions": precisions,
            "conv_kernels": kernels}


def open_artifact(path: str, threads: int, note_key: str = NOTE_KEY, precision: str = "f32"):
    """The runner, and the artifact's note under `note_key` (None without one). The runner's
    `precision` attribute holds `read_back` of the compiled model. Self-contained but for
    `settings` and `read_back`: a deploy bundle's predict.py carries the three functions' source."""
    import numpy as np
    import openvino

    core = openvino.Core()
    model = core.read_model(str(path))
    note = model.get_rt_info(note_key).astype(str) if model.has_rt_info(note_key) else None
    compiled = core.compile_model(model, "CPU", settings(threads, precision))
    request = compiled.create_infer_request()

    def run(images: np.ndarray) -> np.ndarray:
        # The graph was exported with a dynamic batch axis; copy, as the request reuses buffers.
        return np.array(request.infer({0: np.ascontiguousarray(images)})[0], copy=True)

    run.precision = read_back(compiled, precision)
    return run, note


def load(path: str | Path, threads: int, precision: str = "f32"):
    run, note = open_artifact(str(path), threads, precision=precision)
    check_built_for(path, note, onednn=True)
    return run
