"""Which convs read which LPRNet feature map: the coupling table that channel pruning cuts
along (channel_prune.py) and that MAC counts follow (count_macs, also read by `measure`).

Written down by hand for this fixed architecture. Each prunable map is made by one conv (and
its BatchNorm) and read by the convs listed; two context maps are also read, every 2nd / 4th
channel, by a channel-strided pool, and every context map by the container conv.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from .geometry import BATCH1_SHAPE
from .model import ChannelPrefixMaxPool, LPRNet, Widths


@dataclass(frozen=True)
class Map:
    """One prunable feature map: the conv that makes it and everything that reads it."""

    name: str
    producer: str
    batchnorm: str | None
    consumers: tuple[str, ...] = ()  # convs that read every channel
    pool: int | None = None  # backbone index of the channel-strided pool that reads it
    pooled_consumer: str | None = None  # the conv after that pool
    context: int | None = None  # its place among the container's input blocks
    field: str = ""
    index: int | None = None  # position within a tuple-valued Widths field


def _block(i: int) -> tuple[Map, ...]:
    """The three maps inside a SmallBasicBlock: each conv's output, read by the next conv."""
    convs = [f"backbone.{i}.block.{j}" for j in (0, 2, 4, 6)]
    return tuple(Map(f"block{i}.{k}", convs[k], None, (convs[k + 1],), field=f"block{i}", index=k) for k in range(3))


MAPS: tuple[Map, ...] = (
    Map("stem", "backbone.0", "backbone.1", ("backbone.4.block.0",), context=0, field="stem"),
    *_block(4),
    Map("tap1", "backbone.4.block.6", "backbone.5", (), 7, "backbone.8.block.0", 1, "tap1"),
    *_block(8),
    Map("block8_out", "backbone.8.block.6", "backbone.9", ("backbone.11.block.0",), field="block8_out"),
    *_block(11),
    Map("tap2", "backbone.11.block.6", "backbone.12", (), 14, "backbone.16", 2, "tap2"),
    Map("head", "backbone.16", "backbone.17", ("backbone.20",), field="head"),
)
CONTAINER = "container.0"


def pool_positions(model: LPRNet, m: Map) -> dict[int, int]:
    """Map channel -> its channel in the pool's output, for the channels the pool keeps."""
    pool = model.backbone[m.pool]
    channels = model.get_submodule(m.producer).out_channels
    if isinstance(pool, ChannelPrefixMaxPool):
        return {c: c for c in range(pool.kept)}
    return {c: c // pool.channel_stride for c in range(0, channels, pool.channel_stride)}


def _width(widths: Widths, m: Map, pooled: bool = False) -> int:
    value = getattr(widths, f"{m.field}_pooled" if pooled else m.field)
    return value if m.index is None else value[m.index]


@functools.cache
def _conv_geometry(num_classes: int) -> dict[str, tuple[int, int, int, int]]:
    """Per conv of the full LPRNet: output pixels at batch 1 and kernel area (neither changes
    with the widths), and its input and output channels when no map of `MAPS` sets them."""
    geometry, model = {}, LPRNet(num_classes)
    hooks = [conv.register_forward_hook(
        lambda mod, i, out, n=name: geometry.__setitem__(
            n, (out[0, 0].numel(), mod.kernel_size[0] * mod.kernel_size[1], mod.in_channels, mod.out_channels)))
        for name, conv in model.named_modules() if isinstance(conv, nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(BATCH1_SHAPE))
    for hook in hooks:
        hook.remove()
    return geometry


def count_macs(widths: Widths, num_classes: int) -> int:
    """Multiply-accumulates of one batch-1 forward of LPRNet at these widths (convs only),
    from the coupling table: a conv's output channels are the width of the map it makes, its
    input channels that of the map it reads (tests check this against a built model)."""
    channels = {name: [inp, out] for name, (_, _, inp, out) in _conv_geometry(num_classes).items()}
    for m in MAPS:
        channels[m.producer][1] = _width(widths, m)
        for reader in m.consumers:
            channels[reader][0] = _width(widths, m)
        if m.pooled_consumer:
            channels[m.pooled_consumer][0] = _width(widths, m, pooled=True)
    channels[CONTAINER][0] = widths.context_in(num_classes)
    return sum(pixels * area * channels[name][0] * channels[name][1]
               for name, (pixels, area, _, _) in _conv_geometry(num_classes).items())


def readers(model: LPRNet, m: Map) -> list[tuple[str, dict[int, int]]]:
    """Every conv that reads map `m`, with where each of its channels enters that conv."""
    channels = model.get_submodule(m.producer).out_channels
    found = [(name, {c: c for c in range(channels)}) for name in m.consumers]
    if m.pooled_consumer:
        found.append((m.pooled_consumer, pool_positions(model, m)))
    if m.context is not None:
        offset = context_offsets(model.widths)[m.context]
        found.append((CONTAINER, {c: offset + c for c in range(channels)}))
    return found


def context_offsets(widths: Widths) -> list[int]:
    """Where each context map's channels start among the container's inputs."""
    return [0, widths.stem, widths.stem + widths.tap1, widths.stem + widths.tap1 + widths.tap2]
