"""PyTorch eager mode on a state_dict checkpoint (dense or packed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_model


def torch_runner(module: torch.nn.Module, threads: int, exported: bool = False, dtype: torch.dtype = torch.float32,
                 inductor_config: dict | None = None):
    """Run a torch module on numpy images in eval mode, channels-last, its input cast to `dtype`
    (the module's own) and its logits returned as float32. An exported program's module was
    captured in eval mode and refuses `.eval()`.

    `inductor_config`: inductor settings (e.g. freezing) patched in around each call of a
    torch.compile'd module, so that its compiles (on the first call, and again for a new input
    shape) see them and no other compile in the process does. Freezing is read by dynamo too
    (`is_parameter_freezing`), outside what `torch.compile(options=...)` patches: with options
    alone the PT2E program failed to compile (onednn.qconv_prepack unsupported). The patch costs
    about 6 us a call (one reused patch object)."""
    torch.set_num_threads(threads)
    import contextlib

    patched = torch._inductor.config.patch(inductor_config) if inductor_config else contextlib.nullcontext()
    if not exported:
        module.eval()
    # channels_last is the fast layout for this model's pooling and convs on CPU: NCHW
    # max_pool2d measured about 10x slower (docs/timing-protocol.md).
    module = module.to(memory_format=torch.channels_last)

    def run(images: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), patched:
            x = torch.from_numpy(images).to(dtype).contiguous(memory_format=torch.channels_last)
            return module(x).float().numpy()

    return run


def open_artifact(path: str, threads: int):
    """(runner, None). A deploy bundle's predict.py carries this function's and `torch_runner`'s
    source, and the package modules `load_model` needs."""
    return torch_runner(load_model(path), threads), None


def load(path: str | Path, threads: int):
    return open_artifact(str(path), threads)[0]
