"""Global L1 unstructured pruning, recovery by distillation from the dense model, compact storage.

The stored file keeps each sparse tensor as a packed bitmask plus its non-zero values, so
its size shrinks with sparsity, and it loads back to exactly the same dense weights.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils import prune

from .model import CheckpointError, LPRNet, load_lprnet

log = logging.getLogger(__name__)
FORMAT = "lprnet-opt-sparse-v1"


@dataclass(frozen=True)
class DistillSettings:
    epochs: int
    batch_size: int
    learning_rate: float
    temperature: float
    seed: int


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


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Light changes, a shift of up to 2 px and sensor noise, on normalized images."""
    n = images.shape[0]
    gain = 0.75 + 0.5 * torch.rand(n, 1, 1, 1, generator=generator)
    offset = 0.2 * torch.rand(n, 1, 1, 1, generator=generator) - 0.1
    out = images * gain + offset
    dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=generator))
    out = torch.roll(out, shifts=(dy // 2, dx), dims=(2, 3))
    return out + 0.03 * torch.randn(out.shape, generator=generator)


def distill(student: LPRNet, teacher: LPRNet, images: np.ndarray, settings: DistillSettings) -> list[dict]:
    """Fit the student's per-step class distribution to the teacher's; no labels used.

    Both stay in eval mode, so BatchNorm statistics are the teacher's and dropout is off.
    """
    generator = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed)
    student.eval()
    teacher.eval()
    optimizer = torch.optim.Adam([p for p in student.parameters() if p.requires_grad], lr=settings.learning_rate)
    data = torch.from_numpy(images)
    t = settings.temperature
    history = []
    for epoch in range(1, settings.epochs + 1):
        start, losses = time.perf_counter(), []
        order = torch.randperm(len(data), generator=generator)
        for i in range(0, len(order), settings.batch_size):
            batch = augment(data[order[i : i + settings.batch_size]], generator)
            with torch.no_grad():
                target = F.softmax(teacher(batch) / t, dim=1)
            log_student = F.log_softmax(student(batch) / t, dim=1)
            loss = F.kl_div(log_student, target, reduction="batchmean") * t * t
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history.append({"epoch": epoch, "kl": float(np.mean(losses)), "seconds": round(time.perf_counter() - start, 1)})
        log.info("distill epoch %d/%d kl %.5f (%.0fs)", epoch, settings.epochs, history[-1]["kl"], history[-1]["seconds"])
    return history


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
