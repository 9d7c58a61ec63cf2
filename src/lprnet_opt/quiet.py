"""Silence messages that torch and torchao print about their own internals, and nothing else.

Each one is harmless here and none is about an API this project calls; a test greps a whole
run's logs for "deprecat", so a new deprecation of anything this project uses still shows.
"""

from __future__ import annotations

import logging
import warnings


def quiet_torch_internals() -> None:
    # torch.export deep-copies its own tree specs, and torch 2.13's LeafSpec warns about that
    # (FutureWarning from copyreg in every job that exports: TVM's and the INT8 build).
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)
    # Importing torchao: its CUDA kernels fail to load on the CPU-only torch, and torch's pytree
    # says torchao registers an Enum with a call torch deprecates.
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
    logging.getLogger("torchao").setLevel(logging.ERROR)
    # X86InductorQuantizer says so for every pool behind a channel slice, which it does not
    # annotate; those pools run fp32 between a dequantize and a quantize, by design.
    warnings.filterwarnings("ignore", message="The input of maxpool2d is not quantized")
