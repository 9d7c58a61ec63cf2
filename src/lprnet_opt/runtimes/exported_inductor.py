"""A saved torch.export program (the PT2E INT8 build), compiled by inductor with freezing.

Freezing turns the int8 weights into constants, which lets inductor match each
dequantize-conv-quantize pattern and lower it to one oneDNN qconv; without it no quantized
conv is fused (torchao issue 4566). It compiles on the first calls (warm-up).
"""

from __future__ import annotations

from pathlib import Path

from ..isa import NOTE_KEY, check_built_for
from .eager import torch_runner


def load(path: str | Path, threads: int):
    # Registers the quantize/dequantize ops the saved program calls; plain torch, no torchao.
    import torch.ao.quantization.fx._decomposed  # noqa: F401

    torch._inductor.config.freezing = True
    note = {NOTE_KEY: ""}
    program = torch.export.load(str(path), extra_files=note)
    check_built_for(path, note[NOTE_KEY] or None, onednn=True)
    return torch_runner(torch.compile(program.module(), dynamic=False), threads, exported=True)
