"""A saved torch.export program (the PT2E INT8 build), compiled by inductor with freezing.

Freezing turns the int8 weights into constants, which lets inductor match each
dequantize-conv-quantize pattern and lower it to one oneDNN qconv; without it no quantized
conv is fused (torchao issue 4566). It compiles on the first calls (warm-up).
"""

from __future__ import annotations

from pathlib import Path

from ..isa import NOTE_KEY, check_built_for
from .eager import torch_runner


def open_artifact(path: str, threads: int, note_key: str = NOTE_KEY):
    """The runner, and the program's note under `note_key` (None without one). A deploy
    bundle's predict.py carries this function's and `torch_runner`'s source."""
    import torch

    # Registers the quantize/dequantize ops the saved program calls; plain torch, no torchao.
    import torch.ao.quantization.fx._decomposed  # noqa: F401

    torch._inductor.config.freezing = True
    note = {note_key: ""}
    program = torch.export.load(str(path), extra_files=note)
    runner = torch_runner(torch.compile(program.module(), dynamic=False), threads, exported=True)
    return runner, note[note_key] or None


def load(path: str | Path, threads: int):
    run, note = open_artifact(str(path), threads)
    check_built_for(path, note, onednn=True)
    return run
