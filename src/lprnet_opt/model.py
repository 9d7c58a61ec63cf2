"""LPRNet with two exact rewrites of the LPRNet_Pytorch forward (checkpoints: checkpoint.py).

The state_dict layout (`backbone.N...`, `container.0...`) is the original one, so the public
checkpoint loads unchanged. The rewrites:
- `MaxPool3d` applied to a 4-D tensor treats (N, C, H, W) as an unbatched (C', D, H, W) volume,
  so its depth stride picks every k-th channel. `ChannelStridedMaxPool` does the same with a
  channel slice and `max_pool2d`: bit-identical, about 2x faster, and exportable to ONNX/TVM.
- The global-context features were divided by a mean over the whole batch, which made each
  plate's answer depend on its batch mates. We divide by a per-sample mean (same at batch 1).
"""

from __future__ import annotations

import copy
from dataclasses import astuple, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .chars import NUM_CLASSES

# Backbone outputs kept for the global context, as in the original forward.
CONTEXT_LAYERS = (2, 6, 13, 22)


@dataclass(frozen=True)
class Widths:
    """Channel counts of every prunable map; the defaults are LPRNet's.

    `tap1` and `tap2` are the context maps that a channel-strided pool also reads: `*_pooled`
    of their channels go on through the pool, the rest only to the container. In a slim model
    (any width not the default) the pooled channels come first and the pools read that prefix;
    a dense model keeps the original every-2nd / every-4th layout, so the public checkpoint
    loads unchanged. `checkpoint.widths_of_state` reads them back from a state_dict's shapes.
    """

    stem: int = 64
    block4: tuple[int, int, int] = (32, 32, 32)
    tap1: int = 128
    tap1_pooled: int = 64
    block8: tuple[int, int, int] = (64, 64, 64)
    block8_out: int = 256
    block11: tuple[int, int, int] = (64, 64, 64)
    tap2: int = 256
    tap2_pooled: int = 64
    head: int = 256

    @property
    def dense(self) -> bool:
        return self == DENSE

    def context_in(self, num_classes: int) -> int:
        """The container's input channels: the four context maps side by side."""
        return self.stem + self.tap1 + self.tap2 + num_classes

    def key(self) -> str:
        """A short name of the widths, for folder names (TVM tuning databases)."""
        flat = [v for part in astuple(self) for v in (part if isinstance(part, tuple) else (part,))]
        return "w" + "-".join(str(v) for v in flat)

    @classmethod
    def from_key(cls, key: str) -> Widths:
        """The widths `key()` names."""
        values = iter(int(v) for v in key.removeprefix("w").split("-"))
        return cls(*(tuple(next(values) for _ in d) if isinstance(d, tuple) else next(values) for d in astuple(DENSE)))


DENSE = Widths()


class SmallBasicBlock(nn.Module):
    def __init__(self, ch_in: int, ch_out: int, mids: tuple[int, int, int] | None = None) -> None:
        super().__init__()
        a, b, c = mids or (ch_out // 4,) * 3
        self.block = nn.Sequential(
            nn.Conv2d(ch_in, a, kernel_size=1),
            nn.ReLU(),
            nn.Conv2d(a, b, kernel_size=(3, 1), padding=(1, 0)),
            nn.ReLU(),
            nn.Conv2d(b, c, kernel_size=(1, 3), padding=(0, 1)),
            nn.ReLU(),
            nn.Conv2d(c, ch_out, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class ChannelStridedMaxPool(nn.Module):
    """Exact replacement of `MaxPool3d((1, 3, 3), (channel_stride, 1, width_stride))` on 4-D input."""

    def __init__(self, channel_stride: int, width_stride: int) -> None:
        super().__init__()
        self.channel_stride = channel_stride
        self.width_stride = width_stride

    def kept_channels(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :: self.channel_stride]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(self.kept_channels(x), kernel_size=3, stride=(1, self.width_stride))


class ChannelPrefixMaxPool(ChannelStridedMaxPool):
    """`ChannelStridedMaxPool` for a map whose `kept` kept channels were moved to the front."""

    def __init__(self, channel_stride: int, width_stride: int, kept: int) -> None:
        super().__init__(channel_stride, width_stride)
        self.kept = kept

    def kept_channels(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, : self.kept]


class GlobalContextNorm(nn.Module):
    """Divide a feature map by the mean of its squares, per sample."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / x.pow(2).mean(dim=(1, 2, 3), keepdim=True)


class LPRNet(nn.Module):
    def __init__(self, num_classes: int = NUM_CLASSES, dropout_rate: float = 0.5, widths: Widths = DENSE) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.widths = w = widths
        if w.dense:
            pool7, pool14 = ChannelStridedMaxPool(2, 2), ChannelStridedMaxPool(4, 2)
        else:
            pool7, pool14 = ChannelPrefixMaxPool(2, 2, w.tap1_pooled), ChannelPrefixMaxPool(4, 2, w.tap2_pooled)
        self.backbone = nn.Sequential(
            nn.Conv2d(3, w.stem, kernel_size=3, stride=1),  # 0
            nn.BatchNorm2d(w.stem),
            nn.ReLU(),  # 2
            ChannelStridedMaxPool(1, 1),
            SmallBasicBlock(w.stem, w.tap1, w.block4),  # 4
            nn.BatchNorm2d(w.tap1),
            nn.ReLU(),  # 6
            pool7,
            SmallBasicBlock(w.tap1_pooled, w.block8_out, w.block8),  # 8
            nn.BatchNorm2d(w.block8_out),
            nn.ReLU(),  # 10
            SmallBasicBlock(w.block8_out, w.tap2, w.block11),  # 11
            nn.BatchNorm2d(w.tap2),  # 12
            nn.ReLU(),
            pool14,  # 14
            nn.Dropout(dropout_rate),
            nn.Conv2d(w.tap2_pooled, w.head, kernel_size=(1, 4), stride=1),  # 16
            nn.BatchNorm2d(w.head),
            nn.ReLU(),  # 18
            nn.Dropout(dropout_rate),
            nn.Conv2d(w.head, num_classes, kernel_size=(13, 1), stride=1),  # 20
            nn.BatchNorm2d(num_classes),
            nn.ReLU(),  # 22
        )
        self.context_pools = nn.ModuleList(
            [
                nn.AvgPool2d(kernel_size=5, stride=5),
                nn.AvgPool2d(kernel_size=5, stride=5),
                nn.AvgPool2d(kernel_size=(4, 10), stride=(4, 2)),
                nn.Identity(),
            ]
        )
        self.context_norms = nn.ModuleList([GlobalContextNorm() for _ in CONTEXT_LAYERS])
        self.container = nn.Sequential(
            nn.Conv2d(w.context_in(num_classes), num_classes, kernel_size=1, stride=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = []
        for i, layer in enumerate(self.backbone):
            x = layer(x)
            if i in CONTEXT_LAYERS:
                kept.append(x)
        context = [
            norm(pool(f)) for f, pool, norm in zip(kept, self.context_pools, self.context_norms)
        ]
        x = self.container(torch.cat(context, 1))
        return x.mean(dim=2)  # (N, classes, T=18)


def fold_batchnorm(model: LPRNet) -> LPRNet:
    """A copy with each BatchNorm folded into the conv before it (for blocks, the block's last
    conv), subnormal weights flushed again: folding (w * gamma / sigma) turned 188 normal
    weights of the flushed public checkpoint into subnormals. Unflushed, they held TVM at
    4.44 ms instead of 2.53 and ONNX Runtime (which folds the same way) at 4.34 instead of
    1.36 on this Intel CPU. Compilers and the ONNX export are given this model.
    """
    model = copy.deepcopy(model).eval()
    layers = model.backbone
    for i in range(len(layers) - 1):
        if not isinstance(layers[i + 1], nn.BatchNorm2d):
            continue
        if isinstance(layers[i], nn.Conv2d):
            layers[i] = fuse_conv_bn_eval(layers[i], layers[i + 1])
        else:
            layers[i].block[-1] = fuse_conv_bn_eval(layers[i].block[-1], layers[i + 1])
        layers[i + 1] = nn.Identity()
    with torch.no_grad():
        flush_subnormals(dict(model.named_parameters()))
    return model


def conv_sparsity(model: nn.Module) -> float:
    """Share of conv weights that are exactly zero."""
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]
    return float(sum((w == 0).sum().item() for w in weights) / sum(w.numel() for w in weights))


def predict_logits(model: nn.Module, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Eval-mode logits for many images, in batches (the model is batch-invariant).

    An LPRNet runs as a channels-last copy: 1.85x faster than NCHW at batch 64 on 2 cores (AMD
    EPYC, 640 plates in 4.2 against 7.8 s), where the pruning search and the scans spend their
    time. A copy, so the caller's weights keep their layout for training and saving. Other
    modules (PT2E graphs, whose observers must see the calibration images) run as they are."""
    model.eval()
    if isinstance(model, LPRNet):
        model = copy.deepcopy(model).to(memory_format=torch.channels_last)
    layout = torch.channels_last if isinstance(model, LPRNet) else torch.contiguous_format
    with torch.inference_mode():
        chunks = [model(torch.from_numpy(images[i : i + batch_size]).contiguous(memory_format=layout))
                  for i in range(0, len(images), batch_size)]
    return np.concatenate([c.numpy() for c in chunks])


def flush_subnormals(state: dict[str, torch.Tensor]) -> int:
    """Set float32 weights below the smallest normal number (1.2e-38) to zero; returns how many.

    Such weights (34% of the public LPRNet_Pytorch checkpoint: weight decay drove unused
    filters towards zero) change no float32 logit, but on Intel cores every multiply with a
    subnormal operand takes a microcode assist: eager PyTorch ran that checkpoint 12x slower
    than the same weights flushed (docs/timing-protocol.md, "Subnormal weights"). Flushed once here, every
    variant starts from the same numbers and no runtime is credited with the difference.
    """
    flushed = 0
    for tensor in state.values():
        if tensor.is_floating_point():
            subnormal = (tensor != 0) & (tensor.abs() < torch.finfo(tensor.dtype).tiny)
            flushed += int(subnormal.sum())
            tensor[subnormal] = 0.0
    return flushed
