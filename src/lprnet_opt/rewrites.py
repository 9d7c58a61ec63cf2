"""Exact rewrites of the BatchNorm-folded LPRNet for compiled and INT8 graphs.

Each keeps every logit (up to float rounding) and change only weights and slicing:
- `pad_classes`: the last backbone conv (13x1, 256 -> classes) and the container conv
  (1x1, 448 + classes -> classes) have as many output channels as the character set: 68
  for the public model. Vectorised 16 wide over output channels, 68 leaves a 4-wide
  remainder on every row; these two convs ran at 146 GFLOP/s against 300-400 for the others
  (docs/tvm-tuning.md). Zero filters up to 80 channels remove the remainder; the
  padded channels are exactly zero after the ReLU and are sliced off at the end.
- `group_strided_channels`: two pools keep every 2nd / 4th channel (`ChannelStridedMaxPool`).
  With channels innermost (NHWC) that is a strided gather. Reordering the producing conv's
  filters so the kept channels come first turns it into a contiguous slice; the container
  conv's input weights are reordered to match, and the context norm ignores channel order.
  The prefix length is a constant, so an exported graph has no shape arithmetic.
- `pools_as_depthwise`: the three context average pools as depthwise convs of 1/(kh*kw).
  For the INT8 ONNX graph only: ONNX Runtime's QLinearAveragePool took 0.84 ms of a
  2.9 ms call, and an fp32 pool behind a DequantizeLinear of the full map was no better,
  while a depthwise QLinearConv runs in NHWC with the rest (docs/int8.md).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .geometry import BATCH1_SHAPE, VECTOR_LANES, padded_width
from .model import CONTEXT_LAYERS, ChannelPrefixMaxPool, LPRNet, fold_batchnorm

CLASS_CONV = 20  # backbone index of the 13x1 conv that produces the class channels
# Each channel-strided pool: its backbone index and the index of the block whose last conv
# makes the map it reads (a context map too, the 2nd and 3rd of the container's inputs).
STRIDED_POOLS = ((7, 4), (14, 11))


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


def _require_folded(model: LPRNet, rewrite: str) -> None:
    if any(isinstance(layer, nn.BatchNorm2d) for layer in model.backbone):
        raise ValueError(f"{rewrite} needs a model with BatchNorm folded (model.fold_batchnorm)")


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
    """A copy of `folded` with its class channels padded to a multiple of `multiple`."""
    _require_folded(folded, "pad_classes")  # a BatchNorm of 68 channels cannot take 80
    classes = folded.num_classes
    width = padded_width(classes, multiple)
    if width == classes:
        return folded
    model = copy.deepcopy(folded)
    class_conv, container = model.backbone[CLASS_CONV], model.container[0]
    model.backbone[CLASS_CONV] = _pad_conv(class_conv, width, class_conv.in_channels)
    model.context_norms[-1] = ScaledContextNorm(width / classes)
    model.container[0] = _pad_conv(container, width, container.in_channels + width - classes)
    return FirstChannels(model, classes).eval()


def group_strided_channels(folded: LPRNet) -> LPRNet:
    """A copy of `folded` in which each channel-strided pool reads a contiguous channel prefix.
    A slim model (model.Widths) is already laid out that way and comes back unchanged."""
    _require_folded(folded, "group_strided_channels")
    model = copy.deepcopy(folded)
    container = model.container[0]
    offsets = (model.widths.stem, model.widths.stem + model.widths.tap1)
    for (pool_index, block_index), offset in zip(STRIDED_POOLS, offsets):
        pool, conv = model.backbone[pool_index], model.backbone[block_index].block[-1]
        if isinstance(pool, ChannelPrefixMaxPool):
            continue
        stride = pool.channel_stride
        # New channel j is old channel order[j]: every stride-th channel first, the rest after.
        order = torch.cat([torch.arange(start, conv.out_channels, stride) for start in range(stride)])
        with torch.no_grad():
            conv.weight.copy_(conv.weight[order])
            conv.bias.copy_(conv.bias[order])
            span = slice(offset, offset + conv.out_channels)
            container.weight[:, span] = container.weight[:, offset + order]
        kept = -(-conv.out_channels // stride)
        model.backbone[pool_index] = ChannelPrefixMaxPool(stride, pool.width_stride, kept)
    return model.eval()


def fp32_graph(model: LPRNet) -> LPRNet:
    """The graph that exports (ONNX, torch.export) start from: BatchNorm folded, strided-pool
    channels grouped into a prefix. Measured on the real checkpoint, side by side: OpenVINO
    3.73 -> 2.44 ms, ONNX Runtime unchanged (2.31 -> 2.29 ms); the logits are the same."""
    return group_strided_channels(fold_batchnorm(model))


def context_channels(model: LPRNet) -> list[int]:
    """Channels of each backbone map the global context reads, from one batch-1 forward."""
    channels = []
    x = torch.zeros(BATCH1_SHAPE)
    with torch.no_grad():
        for i, layer in enumerate(model.backbone):
            x = layer(x)
            if i in CONTEXT_LAYERS:
                channels.append(x.shape[1])
    return channels


def pools_as_depthwise(folded: LPRNet) -> LPRNet:
    """A copy of `folded` whose context average pools are depthwise convs with equal weights."""
    model = copy.deepcopy(folded)
    for i, (pool, channels) in enumerate(zip(model.context_pools, context_channels(model))):
        if not isinstance(pool, nn.AvgPool2d):
            continue
        kernel, stride = nn.modules.utils._pair(pool.kernel_size), nn.modules.utils._pair(pool.stride)
        conv = nn.Conv2d(channels, channels, kernel, stride, groups=channels, bias=False)
        with torch.no_grad():
            conv.weight.fill_(1.0 / (kernel[0] * kernel[1]))
        model.context_pools[i] = conv
    return model.eval()
