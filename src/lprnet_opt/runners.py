"""One calling convention for every variant: float32 (N, 3, 24, 94) images in, (N, 68, 18) logits out.

Each loader takes only the artifact file, so the measured object is exactly what ships.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

Runner = Callable[[np.ndarray], np.ndarray]


def set_threads(threads: int) -> None:
    """Inference threads for every runtime; call before the first TVM call in the process.

    TVM's thread pool reads TVM_NUM_THREADS once, and without it takes half the logical
    CPUs (it assumes SMT): 1 thread on this 2-core machine. ONNX Runtime and OpenVINO take
    torch's count when their session is created.
    """
    torch.set_num_threads(threads)
    os.environ["TVM_NUM_THREADS"] = str(threads)


def torch_runner(module: torch.nn.Module) -> Runner:
    module.eval()
    # channels_last is the fast layout for this model's pooling and convs on CPU (see README).
    module = module.to(memory_format=torch.channels_last)

    def run(images: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(images).contiguous(memory_format=torch.channels_last)
            return module(x).numpy()

    return run


def load_eager(path: str | Path) -> Runner:
    """A state_dict checkpoint (dense, or pruned in compact form) run in PyTorch eager mode."""
    from .prune import load_pruned_or_dense

    return torch_runner(load_pruned_or_dense(path))


def load_torchscript(path: str | Path) -> Runner:
    """A TorchScript file, as a deployment script would run it (no project code needed)."""
    return torch_runner(torch.jit.load(str(path), map_location="cpu"))


def load_tvm(path: str | Path) -> Runner:
    from .tvm_compile import load_tvm_runner

    return load_tvm_runner(path)


def load_onnx(path: str | Path) -> Runner:
    from .peers import load_onnx_runner

    return load_onnx_runner(path)


def load_openvino(path: str | Path) -> Runner:
    from .peers import load_openvino_runner

    return load_openvino_runner(path)


def load_compiled(path: str | Path) -> Runner:
    from .peers import load_compiled_runner

    return load_compiled_runner(path)


LOADERS: dict[str, Callable[[str | Path], Runner]] = {
    "baseline": load_eager,
    "pruned": load_eager,
    "quantized": load_torchscript,
    "tvm": load_tvm,
    "onnx": load_onnx,
    "openvino": load_openvino,
    "torch_compile": load_compiled,
}


def load_runner(kind: str, path: str | Path) -> Runner:
    return LOADERS[kind](path)


def run_batched(runner: Runner, images: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([runner(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])

