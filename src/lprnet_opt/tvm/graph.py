"""LPRNet -> Relax: the folded, rewritten model with constant weights, convs NHWC/HWIO,
and the fusion passes that decide the tuning tasks."""

from __future__ import annotations

import torch

from ..geometry import BATCH1_SHAPE
from ..model import LPRNet, fold_batchnorm
from ..quiet import quiet_torch_internals
from ..rewrites import group_strided_channels, pad_classes
from ..tvm_setup import CONV_LAYOUT, KERNEL_LAYOUT, import_tvm


def export_relax(model: LPRNet):
    """A Relax IRModule of the folded, rewritten model with constant weights, convs NHWC/HWIO.

    With channels innermost, MetaSchedule vectorises over output channels (multiples of 16)
    instead of the odd widths 90/44/18, and a 1x1 conv is a plain matrix product. HWIO keeps
    the output channels innermost in the weights too, so each vector of weights is one
    contiguous load (the weights are constants: the transpose is folded at build time). Only
    the input and the output are transposed; every op in between follows the convs' layout.
    Two exact rewrites (`rewrites.py`) serve the same layout: class channels padded to
    whole vectors, and the channels that strided pools keep grouped into a contiguous prefix.
    """
    import_tvm()
    from tvm import relax
    from tvm.relax.frontend.torch import from_exported_program

    example = torch.zeros(BATCH1_SHAPE)
    with torch.no_grad():
        rewritten = pad_classes(group_strided_channels(fold_batchnorm(model)))
        quiet_torch_internals()
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
