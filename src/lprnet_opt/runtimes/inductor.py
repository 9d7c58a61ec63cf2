"""torch.compile (inductor) of the eager model, in float32 or bfloat16; it compiles on the first calls (warm-up)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import load_model
from .eager import torch_runner


def open_artifact(path: str, threads: int, precision: str = "f32"):
    """(runner, None). bf16 casts the weights and each input to bfloat16 and compiles with
    freezing, which lets inductor prepack the weights for oneDNN's bf16 convs (real checkpoint,
    AMD EPYC with avx512_bf16: 1.71 ms a plate against 2.33 ms without freezing). The runner's
    `precision` attribute holds the dtype its weights and logits had on one call. A deploy bundle's
    predict.py carries this function's and `torch_runner`'s source, and the package modules
    `load_model` needs."""
    if precision not in ("f32", "bf16"):  # kinds.FLOAT_PRECISIONS; a bundle carries this source alone
        raise ValueError(f"inductor precision {precision!r}: f32 or bf16")
    model = load_model(path)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    # Freezing for this module's compiles alone (patched around its calls), never for other
    # compiles in the process.
    options = {"freezing": True} if precision == "bf16" else {}
    if precision == "bf16":
        model = model.to(dtype)
    compiled = torch.compile(model.eval(), dynamic=False)
    runner = torch_runner(compiled, threads, dtype=dtype, inductor_config=options)
    with torch.inference_mode(), torch._inductor.config.patch(options):
        logits = compiled(torch.zeros(1, 3, 24, 94, dtype=dtype).contiguous(memory_format=torch.channels_last))
    ran = str(logits.dtype).removeprefix("torch.")
    weights = sorted({str(p.dtype).removeprefix("torch.") for p in model.parameters()})
    runner.precision = {"requested": precision, "ran": {"bfloat16": "bf16", "float32": "f32"}.get(ran, ran),
                        "logits_dtype": ran, "weight_dtypes": weights,
                        "freezing": bool(options.get("freezing"))}
    return runner, None


def load(path: str | Path, threads: int, precision: str = "f32"):
    return open_artifact(str(path), threads, precision)[0]
