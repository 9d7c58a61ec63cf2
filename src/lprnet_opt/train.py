"""CTC training of LPRNet from labelled plate folders, with progress and a fixed seed."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .chars import BLANK_INDEX, encode_label, greedy_decode
from .data import PlateSet
from .metrics import plate_accuracy
from .model import LPRNet, predict_logits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    threads: int


def ctc_loss(logits: torch.Tensor, labels: list[str]) -> torch.Tensor:
    log_probs = F.log_softmax(logits, dim=1).permute(2, 0, 1)  # (T, N, C)
    targets = torch.tensor([i for label in labels for i in encode_label(label)])
    target_lengths = torch.tensor([len(label) for label in labels])
    input_lengths = torch.full((len(labels),), log_probs.shape[0], dtype=torch.long)
    return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=BLANK_INDEX, zero_infinity=True)


def train_ctc(train: PlateSet, validation: PlateSet, settings: TrainSettings) -> tuple[LPRNet, list[dict]]:
    """Train from scratch; returns the eval-mode model and one history row per epoch."""
    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    rng = np.random.default_rng(settings.seed)
    model = LPRNet()
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=1e-4)
    steps = settings.epochs * int(np.ceil(len(train.labels) / settings.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.learning_rate, total_steps=steps)
    history = []
    for epoch in range(1, settings.epochs + 1):
        start, losses = time.perf_counter(), []
        model.train()
        order = rng.permutation(len(train.labels))
        for i in range(0, len(order), settings.batch_size):
            batch = order[i : i + settings.batch_size]
            loss = ctc_loss(model(torch.from_numpy(train.images[batch])), [train.labels[j] for j in batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        predicted = greedy_decode(predict_logits(model, validation.images))
        row = {
            "epoch": epoch,
            "loss": float(np.mean(losses)),
            "val_accuracy": plate_accuracy(predicted, validation.labels),
            "seconds": round(time.perf_counter() - start, 1),
        }
        history.append(row)
        log.info("epoch %d/%d loss %.4f val_accuracy %.4f (%.0fs)", epoch, settings.epochs,
                 row["loss"], row["val_accuracy"], row["seconds"])
    return model.eval(), history
