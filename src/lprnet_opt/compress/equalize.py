"""Outlier channels scaled down before INT8 quantization, and their readers scaled up: an exact
rewrite of the fp32 graph (`onnx_export.int8_graph` form) that gives the per-tensor activation
quantizers their resolution back. Cross-layer equalization (Nagel et al., "Data-Free
Quantization", 2019) for activations, with ranges measured on calibration plates.

Why: the ONNX Runtime INT8 builds quantize each activation tensor with one uint8 scale. In the
real LPRNet checkpoint, one of the 48 channels of the channel-pruned model's third context map
(backbone.13, also the head's input) reaches 307 on the calibration plates while every other
stays below 7.6. Its scale (0.71) rounded the other channels to a few levels: that quantizer
alone took the build from 0.990 to 0.935 agreement with its fp32 source on the evaluation
plates (fp32 activations elsewhere; docs/int8.md). A ReLU is positively homogeneous, and every
reader of these maps is linear per channel (a max pool, a channel prefix, a depthwise average, a
conv), so a channel c of the producing conv scaled by s_c < 1, and the readers' weights on
channel c by 1 / s_c, compute the same logits in fp32; only the quantized map changes.

Only outliers move: a channel whose range exceeds OUTLIER_FACTOR times the typical channel's
is brought down to that bound. The rest stays as it is, so the readers' per-channel weight
scales grow only where a channel was an outlier.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..model import LPRNet

# A channel is an outlier above this many times the typical channel range (the 90th percentile
# of the channels that are ever non-zero); it is scaled to exactly that bound.
OUTLIER_FACTOR = 4.0
TYPICAL_QUANTILE = 0.9


@dataclass(frozen=True)
class Site:
    """A ReLU'd backbone map: the conv that makes it and the convs that read its channels.
    `pooled` readers read the channel prefix a backbone pool keeps (all channels when it keeps
    all); context readers are the depthwise context pool convs of `int8_graph`."""
    relu: int
    producer: tuple[int, str | None]  # backbone index, and the block's last conv ("block") or None
    reader: tuple[int, str | None] | None  # the next conv on the backbone
    pool: int | None  # the backbone pool between the map and `reader`, if any
    context: int | None  # index into context_pools


# LPRNet's maps whose readers are all linear per channel (model.LPRNet). backbone.22 is left
# out: its context norm divides by the mean of squares over all channels, not per channel.
SITES = (
    Site(2, (0, None), (4, "first"), 3, 0),
    Site(6, (4, "last"), (8, "first"), 7, 1),
    Site(10, (8, "last"), (11, "first"), None, None),
    Site(13, (11, "last"), (16, None), 14, 2),
    Site(18, (16, None), (20, None), None, None),
)


def conv_at(model: LPRNet, where: tuple[int, str | None]) -> nn.Conv2d:
    index, part = where
    layer = model.backbone[index]
    return layer if part is None else layer.block[0 if part == "first" else -1]


def channel_ranges(model: LPRNet, images: np.ndarray, batch_size: int = 64) -> dict[int, torch.Tensor]:
    """Each site's per-channel maximum over `images`."""
    ranges: dict[int, torch.Tensor] = {}
    hooks = [model.backbone[site.relu].register_forward_hook(
        lambda _m, _i, out, i=site.relu: ranges.__setitem__(
            i, torch.maximum(ranges.get(i, torch.zeros(out.shape[1])), out.detach().amax(dim=(0, 2, 3)))))
        for site in SITES]
    try:
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                model(torch.from_numpy(images[start : start + batch_size]))
    finally:
        for hook in hooks:
            hook.remove()
    return ranges


def outlier_scales(ranges: torch.Tensor) -> torch.Tensor:
    """s_c: 1 for a typical channel, bound / range for an outlier."""
    live = ranges[ranges > 0]
    if len(live) < 2:
        return torch.ones_like(ranges)
    bound = OUTLIER_FACTOR * torch.quantile(live, TYPICAL_QUANTILE)
    # A channel at the bound already (equalized before, up to float rounding) stays.
    return torch.where(ranges > bound * 1.001, bound / ranges, torch.ones_like(ranges))


def equalize_outliers(model: LPRNet, images: np.ndarray) -> tuple[LPRNet, list[dict]]:
    """A copy of `model` (in `int8_graph` form) with outlier channels scaled down, the same
    logits in fp32; and per site, what moved (channel, range before and after)."""
    model = copy.deepcopy(model).eval()
    ranges = channel_ranges(model, images)
    record = []
    with torch.no_grad():
        for site in SITES:
            scales = outlier_scales(ranges[site.relu])
            moved = torch.nonzero(scales < 1).flatten().tolist()
            if not moved:
                continue
            producer = conv_at(model, site.producer)
            producer.weight.mul_(scales.reshape(-1, 1, 1, 1))
            producer.bias.mul_(scales)
            reader = conv_at(model, site.reader)
            kept = reader.in_channels  # a pool's channel prefix, or every channel
            reader.weight.div_(scales[:kept].reshape(1, -1, 1, 1))
            if site.context is not None:
                pool = model.context_pools[site.context]
                if not isinstance(pool, nn.Conv2d):
                    raise ValueError(f"context pool {site.context} is not a depthwise conv: equalize an int8_graph")
                pool.weight.div_(scales.reshape(-1, 1, 1, 1))
            record.append({"map": f"backbone.{site.relu}", "channels": moved,
                           "range": [round(float(ranges[site.relu][c]), 3) for c in moved],
                           "scaled_to": round(float(ranges[site.relu][moved[0]] * scales[moved[0]]), 3)})
    return model, record
