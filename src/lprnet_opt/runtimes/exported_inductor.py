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

    note = {note_key: ""}
    program = torch.export.load(str(path), extra_files=note)
    # Freezing for this module's compiles alone (patched around its calls), never for other
    # compiles in the process.
    runner = torch_runner(torch.compile(program.module(), dynamic=False), threads, exported=True,
                          inductor_config={"freezing": True})
    return runner, note[note_key] or None


def read_back(path: str | Path) -> dict:
    """What the saved program runs in: per conv, int8 when its weight comes through a
    dequantize op (PT2E's quantized weights), else fp32."""
    import torch
    import torch.ao.quantization.fx._decomposed  # noqa: F401

    graph = torch.export.load(str(path)).graph_module.graph
    convs = [n for n in graph.nodes if n.op == "call_function" and "conv" in str(n.target)]
    int8 = sum(1 for n in convs if isinstance(n.args[1], torch.fx.Node) and "dequantize" in str(n.args[1].target))
    return {"requested": "int8", "ran": "int8" if int8 == len(convs) else "mixed", "int8_convs": int8,
            "fp32_convs": len(convs) - int8, "freezing": True}


def load(path: str | Path, threads: int):
    run, note = open_artifact(str(path), threads)
    check_built_for(path, note, onednn=True)
    run.precision = read_back(path)
    return run
