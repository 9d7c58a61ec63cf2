"""Pad LPRNet's two class-count convs to whole vectors, with the same logits.

The last backbone conv (13x1, 256 -> classes) and the container conv (1x1, 448 + classes
-> classes) have as many output channels as the character set: 68 for the public model.
Compiled with output channels innermost and vectorised 16 wide, 68 leaves a 4-wide
remainder on every row, and these two convs ran at 146 GFLOP/s against 300-400 for the
others (README, "Measured results"). Zero filters up to 80 channels make the remainder
disappear; the padded channels are exactly zero after the ReLU and are sliced off at the end.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .model import LPRNet

# Float32 lanes of an AVX-512 vector; a multiple of every narrower vector width too.
VECTOR_LANES = 16
CLASS_CONV = 20  # backbone index of the 13x1 conv that produces the class channels


def padded_width(channels: int, multiple: int = VECTOR_LANES) -> int:
    return -(-channels // multiple) * multiple


class ScaledContextNorm(nn.Module):
    """`GlobalContextNorm` of a map whose last channels are zero padding.

    The mean of squares runs over `scale` times as many elements as the real map has, all
    extra ones zero, so multiplying it by `scale` gives back the real map's mean.
    """

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / (x.pow(2).mean(dim=(1, 2, 3), keepdim=True) * self.scale)


class FirstChannels(nn.Module):
    """The wrapped model's output, cut back to its first `channels` channels."""

    def __init__(self, model: nn.Module, channels: int) -> None:
        super().__init__()
        self.model = model
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, : self.channels]


def _pad_conv(conv: nn.Conv2d, out_channels: int, in_channels: int) -> nn.Conv2d:
    """A copy of `conv` with zero filters (and zero input-channel weights) appended."""
    padded = nn.Conv2d(in_channels, out_channels, conv.kernel_size, conv.stride, conv.padding,
                       bias=conv.bias is not None)
    with torch.no_grad():
        padded.weight.zero_()
        padded.weight[: conv.out_channels, : conv.in_channels] = conv.weight
        if conv.bias is not None:
            padded.bias.zero_()
            padded.bias[: conv.out_channels] = conv.bias
    return padded


def pad_classes(folded: LPRNet, multiple: int = VECTOR_LANES) -> nn.Module:
    """The BatchNorm-folded `folded` with its class channels padded to a multiple of `multiple`.

    Needs the BatchNorm after the class conv folded away (`model.fold_batchnorm`): a
    BatchNorm of 68 channels cannot take 80.
    """
    classes = folded.num_classes
    width = padded_width(classes, multiple)
    if width == classes:
        return folded
    if not isinstance(folded.backbone[CLASS_CONV + 1], nn.Identity):
        raise ValueError("pad_classes needs a model with BatchNorm folded (model.fold_batchnorm)")
    model = copy.deepcopy(folded)
    class_conv, container = model.backbone[CLASS_CONV], model.container[0]
    model.backbone[CLASS_CONV] = _pad_conv(class_conv, width, class_conv.in_channels)
    model.context_norms[-1] = ScaledContextNorm(width / classes)
    model.container[0] = _pad_conv(container, width, container.in_channels + width - classes)
    return FirstChannels(model, classes).eval()
