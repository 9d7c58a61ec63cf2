"""Global L1 unstructured pruning, recovered by distillation from the dense model.

The pruned model is stored packed (`checkpoint.save_checkpoint(packed=True)`): its size
shrinks with sparsity, and it reloads to exactly the same dense weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.nn.utils import prune

from ..checkpoint import load_model, save_checkpoint
from .distill import DistillSettings, distill
from ..model import LPRNet, conv_sparsity


def conv_weights(model: torch.nn.Module) -> list[tuple[torch.nn.Module, str]]:
    return [(m, "weight") for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def apply_global_l1(model: torch.nn.Module, ratio: float) -> None:
    """Mask the `ratio` smallest-magnitude conv weights across all conv layers together."""
    if not 0 <= ratio < 1:
        raise ValueError(f"pruning ratio {ratio} is outside [0, 1)")
    prune.global_unstructured(conv_weights(model), pruning_method=prune.L1Unstructured, amount=ratio)


def prune_and_recover(weights: str | Path, ratio: float, images: np.ndarray, settings: DistillSettings) -> tuple[LPRNet, dict]:
    teacher = load_model(weights)
    student = load_model(weights)
    apply_global_l1(student, ratio)
    history = distill(student, teacher, images, settings) if settings.epochs and ratio > 0 else []
    for module, name in conv_weights(student):
        if prune.is_pruned(module):
            prune.remove(module, name)  # bake the mask: zeros stay exact zeros
    pruned = LPRNet(student.num_classes, widths=student.widths)  # a fresh module keeps the canonical key order
    pruned.load_state_dict(student.state_dict())
    return pruned.eval(), {"ratio": ratio, "sparsity": conv_sparsity(pruned), "distill_history": history}


def build_pruned(weights: str | Path, ratio: float, images: np.ndarray, settings: DistillSettings, path: str | Path) -> dict:
    """Prune, distill, store packed, and check the stored file reloads exactly."""
    model, info = prune_and_recover(weights, ratio, images, settings)
    save_checkpoint(model, path, packed=True)
    reloaded = load_model(path).state_dict()
    if not all(torch.equal(reloaded[k], v) for k, v in model.state_dict().items()):
        Path(path).unlink()
        raise RuntimeError(f"{path}: stored sparse weights do not reload exactly")
    return {**info, "distill_images": len(images), "settings": settings.__dict__}
