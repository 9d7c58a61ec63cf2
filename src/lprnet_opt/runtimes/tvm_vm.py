"""A TVM library exported by `tvm.compile`, run by the Relax VM, one image at a time."""

from __future__ import annotations

from pathlib import Path

from ..geometry import BATCH1_SHAPE
from ..tvm_setup import import_tvm


def open_artifact(path: str, threads: int, batch1_shape: tuple[int, ...] = BATCH1_SHAPE):
    """Run an exported batch-1 library on any number of images; returns (runner, None).
    Self-contained: a deploy bundle's predict.py carries this function's source.

    TVM's thread pool reads TVM_NUM_THREADS once, at the first call in the process, and
    without it takes half the logical CPUs (it assumes SMT): 1 thread on a 2-core machine.
    """
    import os

    os.environ["TVM_NUM_THREADS"] = str(threads)
    import numpy as np
    import tvm
    from tvm import relax

    vm = relax.VirtualMachine(tvm.runtime.load_module(str(path)), tvm.cpu())
    main = vm["main"]
    # One input tensor, reused: tvm.runtime.tensor allocated a new one per call. numpy writes
    # into it through a zero-copy view (TVM allocates it 64-byte aligned, as kernels assume).
    staged = tvm.runtime.empty(batch1_shape, "float32")
    staged_view = np.from_dlpack(staged)

    def run(images: np.ndarray) -> np.ndarray:
        outputs = []
        for image in images:
            np.copyto(staged_view, image[None])
            # from_exported_program returns a one-element tuple of logits. Copied out through
            # DLPack: Tensor.numpy() runs enough Python right after the call, while the
            # interpreter's caches are cold from the kernels, to cost 33 us against 7 us
            # (docs/tvm-tuning.md).
            (logits,) = main(staged)
            outputs.append(np.from_dlpack(logits).copy())
        return np.concatenate(outputs)

    return run, None


def load(path: str | Path, threads: int):
    import_tvm(threads)  # the apache-tvm-ffi pin is checked before TVM loads
    return open_artifact(str(path), threads)[0]
