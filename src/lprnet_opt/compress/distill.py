"""Label-free recovery by distillation: a compressed student learns the dense teacher's outputs.

Used after pruning and for INT8 quantization-aware fine-tuning. The images are never
evaluation images: the calibration split plus generated plates, augmented.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistillSettings:
    epochs: int
    batch_size: int
    learning_rate: float
    temperature: float
    seed: int


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Light changes, a shift of up to 2 px and sensor noise, on normalized images."""
    n = images.shape[0]
    gain = 0.75 + 0.5 * torch.rand(n, 1, 1, 1, generator=generator)
    offset = 0.2 * torch.rand(n, 1, 1, 1, generator=generator) - 0.1
    out = images * gain + offset
    dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=generator))
    out = torch.roll(out, shifts=(dy // 2, dx), dims=(2, 3))
    return out + 0.03 * torch.randn(out.shape, generator=generator)


def distill(student: torch.nn.Module, teacher: torch.nn.Module, images: np.ndarray, settings: DistillSettings) -> list[dict]:
    """Fit the student's per-step class distribution to the teacher's; no labels used.

    Both stay in eval mode, so BatchNorm statistics are the teacher's and dropout is off.
    They train in channels-last layout, oneDNN's native one for convolutions: an epoch took
    25-30% less time than in the default layout (AMD EPYC, 2 threads); both are returned to
    the default layout, so what is saved and deployed is laid out as before.
    """
    generator = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed)
    student.eval()
    teacher.eval()
    try:
        student.to(memory_format=torch.channels_last)  # before the optimizer takes its parameters
        teacher.to(memory_format=torch.channels_last)
        return _fit(student, teacher, images, settings, generator)
    finally:
        student.to(memory_format=torch.contiguous_format)
        teacher.to(memory_format=torch.contiguous_format)


def _fit(student: torch.nn.Module, teacher: torch.nn.Module, images: np.ndarray, settings: DistillSettings,
         generator: torch.Generator) -> list[dict]:
    optimizer = torch.optim.Adam([p for p in student.parameters() if p.requires_grad], lr=settings.learning_rate)
    data = torch.from_numpy(images)
    t = settings.temperature
    history = []
    for epoch in range(1, settings.epochs + 1):
        start, losses = time.perf_counter(), []
        order = torch.randperm(len(data), generator=generator)
        for i in range(0, len(order), settings.batch_size):
            batch = augment(data[order[i : i + settings.batch_size]], generator)
            batch = batch.contiguous(memory_format=torch.channels_last)
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
