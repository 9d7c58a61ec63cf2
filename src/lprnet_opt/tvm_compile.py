"""LPRNet -> Relax (BatchNorm folded, weights bound as constants) -> tuned, exported .so."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from .export_rewrites import group_strided_channels, pad_classes
from .model import IMAGE_HEIGHT, IMAGE_WIDTH, LPRNet, fold_batchnorm
from .tvm_setup import CONV_LAYOUT, KERNEL_LAYOUT, import_tvm, make_target

log = logging.getLogger(__name__)
INPUT_SHAPE = (1, 3, IMAGE_HEIGHT, IMAGE_WIDTH)  # libraries are built for batch 1


def export_relax(model: LPRNet):
    """A Relax IRModule of the folded, rewritten model with constant weights, convs NHWC/HWIO.

    With channels innermost, MetaSchedule vectorises over output channels (multiples of 16)
    instead of the odd widths 90/44/18, and a 1x1 conv is a plain matrix product. HWIO keeps
    the output channels innermost in the weights too, so each vector of weights is one
    contiguous load (the weights are constants: the transpose is folded at build time). Only
    the input and the output are transposed; every op in between follows the convs' layout.
    Two exact rewrites (`export_rewrites`) serve the same layout: class channels padded to
    whole vectors, and the channels that strided pools keep grouped into a contiguous prefix.
    """
    import_tvm()
    from tvm import relax
    from tvm.relax.frontend.torch import from_exported_program

    example = torch.zeros(INPUT_SHAPE)
    with torch.no_grad():
        rewritten = pad_classes(group_strided_channels(fold_batchnorm(model)))
        program = torch.export.export(rewritten, (example,))
    mod = from_exported_program(program, keep_params_as_input=False)
    return relax.transform.ConvertLayout({"relax.nn.conv2d": [CONV_LAYOUT, KERNEL_LAYOUT]})(mod)


def fuse_for_tuning(mod, target):
    """The passes MetaSchedule's compile_relax runs before applying a database, so keys match."""
    tvm = import_tvm()
    from tvm import relax
    from tvm.relax import pipeline

    passes = [
        *pipeline.library_dispatch_passes(target),
        relax.transform.LegalizeOps(),
        relax.transform.AnnotateTIROpPattern(),
        relax.transform.FoldConstant(),
        relax.transform.FuseOps(),
        relax.transform.FuseTIR(),
    ]
    with target:
        return tvm.transform.Sequential(passes)(mod)


def compile_library(model: LPRNet, target_spec: dict, database, path: str | Path) -> None:
    """Build with the tuned schedules and export the .so; written under a temporary name first."""
    tvm = import_tvm()
    from tvm.s_tir import meta_schedule as ms

    target = make_target(target_spec)
    executable = ms.relax_integration.compile_relax(database, export_relax(model), target, None)
    path = Path(path)
    tmp = path.with_name(path.stem + ".partial.so")
    executable.export_library(str(tmp))
    os.replace(tmp, path)
    log.info("exported %s (%d bytes)", path, path.stat().st_size)


def load_tvm_runner(path: str | Path):
    """Run an exported batch-1 library on any number of images, one at a time."""
    tvm = import_tvm()  # threads: runners.set_threads, before the first call
    from tvm import relax

    vm = relax.VirtualMachine(tvm.runtime.load_module(str(path)), tvm.cpu())
    main = vm["main"]
    # One input tensor, reused: tvm.runtime.tensor allocated a new one per call. numpy writes
    # into it through a zero-copy view (TVM allocates it 64-byte aligned, as kernels assume).
    staged = tvm.runtime.empty(INPUT_SHAPE, "float32")
    staged_view = np.from_dlpack(staged)

    def run(images: np.ndarray) -> np.ndarray:
        outputs = []
        for image in images:
            np.copyto(staged_view, image[None])
            # from_exported_program returns a one-element tuple of logits. Copied out through
            # DLPack: Tensor.numpy() runs enough Python right after the call, while the
            # interpreter's caches are cold from the kernels, to cost 33 us against 7 us (README).
            (logits,) = main(staged)
            outputs.append(np.from_dlpack(logits).copy())
        return np.concatenate(outputs)

    return run


def compile_and_verify(model: LPRNet, target_spec: dict, database_dir: str | Path, path: str | Path,
                       images: np.ndarray, threads: int) -> dict:
    """Compile, then check the library against PyTorch on `images`; a failed check removes it."""
    from .chars import greedy_decode
    from .metrics import agreement
    from .tvm_tune import open_database

    import_tvm(threads)
    compile_library(model, target_spec, open_database(database_dir), path)
    with torch.inference_mode():
        reference = model(torch.from_numpy(images)).numpy()
    logits = load_tvm_runner(path)(images)
    diff = float(np.abs(logits - reference).max())
    if not np.isfinite(diff):
        os.remove(path)
        raise RuntimeError(f"{path}: compiled library gives non-finite logits")
    return {"target": target_spec, "max_abs_logit_diff": diff,
            "agreement_with_pytorch": agreement(greedy_decode(logits), greedy_decode(reference)),
            "checked_images": len(images)}
