"""Global L1 unstructured pruning, recovery by distillation from the dense model, compact storage.

The stored file keeps each sparse tensor as a packed bitmask plus its non-zero values, so
its size shrinks with sparsity, and it loads back to exactly the same dense weights.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils import prune

from .distill import DistillSettings, distill
from .model import CheckpointError, LPRNet, load_lprnet

log = logging.getLogger(__name__)
FORMAT = "lprnet-opt-sparse-v1"


def conv_weights(model: torch.nn.Module) -> list[tuple[torch.nn.Module, str]]:
    return [(m, "weight") for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def conv_sparsity(model: torch.nn.Module) -> float:
    weights = [m.weight for m, _ in conv_weights(model)]
    return float(sum((w == 0).sum().item() for w in weights) / sum(w.numel() for w in weights))


def apply_global_l1(model: torch.nn.Module, ratio: float) -> None:
    """Mask the `ratio` smallest-magnitude conv weights across all conv layers together."""
    if not 0 <= ratio < 1:
        raise ValueError(f"pruning ratio {ratio} is outside [0, 1)")
    prune.global_unstructured(conv_weights(model), pruning_method=prune.L1Unstructured, amount=ratio)


def prune_and_recover(weights: str | Path, ratio: float, images: np.ndarray, settings: DistillSettings) -> tuple[LPRNet, dict]:
    teacher = load_lprnet(weights)
    student = load_lprnet(weights)
    apply_global_l1(student, ratio)
    history = distill(student, teacher, images, settings) if settings.epochs and ratio > 0 else []
    for module, name in conv_weights(student):
        if prune.is_pruned(module):
            prune.remove(module, name)  # bake the mask: zeros stay exact zeros
    pruned = LPRNet(student.num_classes)  # a fresh module keeps the canonical key order
    pruned.load_state_dict(student.state_dict())
    return pruned.eval(), {"ratio": ratio, "sparsity": conv_sparsity(pruned), "distill_history": history}


def pack_tensor(tensor: torch.Tensor) -> dict | torch.Tensor:
    """Bitmask + non-zero values when that is smaller than the dense tensor."""
    flat = tensor.detach().flatten()
    nonzero = flat != 0
    if nonzero.sum().item() * 4 + flat.numel() / 8 >= flat.numel() * 4:
        return tensor.detach().clone()
    mask = torch.from_numpy(np.packbits(nonzero.numpy()))
    return {"shape": list(tensor.shape), "mask": mask, "values": flat[nonzero].clone()}


def unpack_tensor(entry: dict | torch.Tensor) -> torch.Tensor:
    if isinstance(entry, torch.Tensor):
        return entry
    shape = entry["shape"]
    numel = int(np.prod(shape))
    nonzero = torch.from_numpy(np.unpackbits(entry["mask"].numpy(), count=numel).astype(bool))
    dense = torch.zeros(numel, dtype=entry["values"].dtype)
    dense[nonzero] = entry["values"]
    return dense.reshape(shape)


def save_sparse(model: torch.nn.Module, path: str | Path) -> None:
    tensors = {name: pack_tensor(t) for name, t in model.state_dict().items()}
    tmp = f"{path}.partial"
    torch.save({"format": FORMAT, "tensors": tensors}, tmp)
    os.replace(tmp, path)


def load_pruned_or_dense(path: str | Path) -> LPRNet:
    """Load a plain checkpoint, or a compact sparse one, into an eval-mode LPRNet."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return load_lprnet(path)  # lets the checkpoint loader report the problem
    if not (isinstance(raw, dict) and raw.get("format") == FORMAT):
        return load_lprnet(path)
    state = {name: unpack_tensor(entry) for name, entry in raw["tensors"].items()}
    model = LPRNet(state["container.0.weight"].shape[0])
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: sparse weights do not fit LPRNet ({err})") from None
    return model.eval()

def build_pruned(weights: str | Path, ratio: float, images: np.ndarray, settings: DistillSettings, path: str | Path) -> dict:
    """Prune, distill, store compactly, and check the stored file reloads exactly."""
    model, info = prune_and_recover(weights, ratio, images, settings)
    save_sparse(model, path)
    reloaded = load_pruned_or_dense(path).state_dict()
    if not all(torch.equal(reloaded[k], v) for k, v in model.state_dict().items()):
        os.remove(path)
        raise RuntimeError(f"{path}: stored sparse weights do not reload exactly")
    return {**info, "distill_images": len(images), "settings": settings.__dict__}
