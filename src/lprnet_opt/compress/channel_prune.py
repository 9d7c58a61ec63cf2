"""Structured (channel) pruning to a MAC target: whole filters go, so every runtime runs a
smaller dense LPRNet (model.Widths), stored as a plain state_dict whose shapes are the widths.

The coupling is written down by hand (coupling.MAPS) rather than traced by torch-pruning: besides the
index coupling (a filter, its BatchNorm channel, the input channels of the convs that read it),
LPRNet has two couplings a dependency graph does not model. The channel-strided pools read
every 2nd / 4th channel of two context maps, so those maps split into a pooled part (read by
the next conv and the container) and the rest (read by the container only). And the global
context norm divides by a mean over channels, so removing channels rescales the container's
input: the container columns of a pruned map are rescaled by the measured energy ratio.

A removed channel's mean activation (measured on the given images) is folded into the bias of
each conv that read it, so a dead filter (all-zero weights: 81% of the public checkpoint's
block outputs, weight decay drove them to zero) goes at no cost.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_model, save_checkpoint
from ..coupling import CONTAINER, MAPS, context_offsets, count_macs, pool_positions, readers
from .distill import DistillSettings, distill
from ..model import LPRNet, Widths, fold_batchnorm, predict_logits
from .sensitivity import logit_error

log = logging.getLogger(__name__)
CHANNEL_MULTIPLE = 16  # whole AVX-512 fp32 vectors: oneDNN and NHWC TVM kernels vectorise over channels


def activation_stats(model: LPRNet, images: np.ndarray, batch_size: int = 64) -> dict[str, dict[str, torch.Tensor]]:
    """Per input channel of every conv: mean and mean square over images and positions; per
    context norm: each image's sum of squares per channel (`energy`, N x C)."""
    sums: dict[str, dict[str, torch.Tensor]] = {}

    def record(name: str, tensor: torch.Tensor) -> None:
        tensor = tensor.double()  # float32 sums of squares cancel to negative variances
        entry = sums.setdefault(name, {"sum": 0.0, "sq": 0.0, "count": 0})
        entry["sum"] = entry["sum"] + tensor.sum(dim=(0, 2, 3))
        entry["sq"] = entry["sq"] + tensor.pow(2).sum(dim=(0, 2, 3))
        entry["count"] += tensor.numel() // tensor.shape[1]

    energy: dict[int, list[torch.Tensor]] = {}
    hooks = [conv.register_forward_pre_hook(lambda mod, inp, n=name: record(n, inp[0]))
             for name, conv in model.named_modules() if isinstance(conv, nn.Conv2d)]
    hooks += [norm.register_forward_pre_hook(lambda mod, inp, i=i: energy.setdefault(i, []).append(inp[0].pow(2).sum(dim=(2, 3))))
              for i, norm in enumerate(model.context_norms)]
    model.eval()
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            model(torch.from_numpy(images[i : i + batch_size]))
    for hook in hooks:
        hook.remove()
    stats = {n: {"mean": (e["sum"] / e["count"]).float(),
                 "var": (e["sq"] / e["count"] - (e["sum"] / e["count"]) ** 2).clamp_min(0).float()}
             for n, e in sums.items()}
    stats.update({f"context{i}": {"energy": torch.cat(parts)} for i, parts in energy.items()})
    return stats


def channel_scores(model: LPRNet, criterion: str, stats: dict) -> dict[str, torch.Tensor]:
    """Importance of every channel of every map, scaled so that each map's mean is 1.

    - `magnitude`: L2 norm of the filter with its BatchNorm folded in;
    - `bn_scale`: |gamma| of its BatchNorm (network slimming; `magnitude` for the block-internal
      maps, which have none);
    - `replacement`: the squared error its readers see when it is replaced by its mean, i.e.
      its variance times the squared norm of the weights that read it.
    """
    folded = fold_batchnorm(model) if criterion != "replacement" else None
    scores = {}
    for m in MAPS:
        if criterion == "replacement":
            score = 0.0
            for reader, where in readers(model, m):
                weight = model.get_submodule(reader).weight.detach()
                idx = torch.tensor([where[c] for c in sorted(where)])
                part = torch.zeros(model.get_submodule(m.producer).out_channels)
                part[sorted(where)] = stats[reader]["var"][idx] * weight[:, idx].pow(2).sum(dim=(0, 2, 3))
                score = score + part
        elif criterion == "bn_scale" and m.batchnorm:
            score = model.get_submodule(m.batchnorm).weight.detach().abs()
        else:
            score = folded.get_submodule(m.producer).weight.detach().flatten(1).norm(dim=1)
        mean = float(score.mean())
        scores[m.name] = score / mean if mean > 0 else score
    return scores


# Taylor importance from the distillation loss is not among them: at the dense model the
# student is its own teacher, the loss is at its minimum and every gradient is zero.
CRITERIA = ("magnitude", "bn_scale", "replacement")


def _units(model: LPRNet) -> list[tuple[str, list[int], int]]:
    """What the allocation shrinks, each by whole multiples of 16 channels: (map, its channels,
    the fewest it may keep). A pooled map is two units, pooled and not: the part only the
    container reads may go entirely."""
    units = []
    for m in MAPS:
        channels = list(range(model.get_submodule(m.producer).out_channels))
        if m.pool is None:
            units.append((m.name, channels, CHANNEL_MULTIPLE))
            continue
        positions = pool_positions(model, m)
        pooled = sorted(positions, key=positions.get)
        units += [(m.name, pooled, CHANNEL_MULTIPLE), (m.name, [c for c in channels if c not in set(pooled)], 0)]
    return units


def widths_for(model: LPRNet, kept: dict[str, list[int]]) -> Widths:
    """The widths after keeping `kept` channels of each map (pooled channels listed first)."""
    fields: dict[str, object] = {}
    for m in MAPS:
        if m.index is None:
            fields[m.field] = len(kept[m.name])
        else:
            triple = list(fields.get(m.field, getattr(model.widths, m.field)))
            triple[m.index] = len(kept[m.name])
            fields[m.field] = tuple(triple)
        if m.pool is not None:
            pooled = pool_positions(model, m)
            fields[f"{m.field}_pooled"] = sum(1 for c in kept[m.name] if c in pooled)
    return replace(model.widths, **fields)


def allocate(model: LPRNet, scores: dict[str, torch.Tensor], target_macs: int) -> dict[str, list[int]]:
    """Channels to keep per map, for at most `target_macs`: greedily drop the block of 16
    least important channels (in any unit) that costs the least importance per MAC saved."""
    units = _units(model)
    order = [sorted(ch, key=lambda c, n=name: float(scores[n][c])) for name, ch, _ in units]  # weakest first
    dropped = [0] * len(units)

    def kept() -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for (name, channels, _), weakest, n in zip(units, order, dropped):
            gone = set(weakest[:n])
            out.setdefault(name, []).extend(c for c in channels if c not in gone)
        return out

    macs = count_macs(widths_for(model, kept()), model.num_classes)
    while macs > target_macs:
        best = None
        for u, (name, channels, least) in enumerate(units):
            left = len(channels) - dropped[u]
            step = left % CHANNEL_MULTIPLE or CHANNEL_MULTIPLE
            if left - step < least:
                continue
            dropped[u] += step
            saved = macs - count_macs(widths_for(model, kept()), model.num_classes)
            dropped[u] -= step
            cost = float(sum(scores[name][c] for c in order[u][dropped[u] : dropped[u] + step]))
            if saved > 0 and (best is None or cost / saved < best[0]):
                best = (cost / saved, u, step, saved)
        if best is None:
            log.warning("channel pruning: every map is at its narrowest, %d MACs left", macs)
            break
        dropped[best[1]] += best[2]
        macs -= best[3]
    return kept()


def slim_copy(model: LPRNet, kept: dict[str, list[int]], stats: dict) -> LPRNet:
    """A slimmer LPRNet keeping `kept` channels of each map (`allocate`), with each removed
    channel's mean folded into its readers' biases and the container's context columns
    rescaled for the energy the norm no longer sees (the median ratio over `stats`' images)."""
    widths = widths_for(model, kept)
    if widths == model.widths:  # nothing removed: keep the original channel order and layout
        return copy.deepcopy(model).eval()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for m in MAPS:
        keep = torch.tensor(kept[m.name], dtype=torch.long)
        channels = model.get_submodule(m.producer).out_channels
        gone = sorted(set(range(channels)) - set(kept[m.name]))
        for reader, where in readers(model, m):
            weight, bias = state[f"{reader}.weight"], state[f"{reader}.bias"]
            lost = [c for c in gone if c in where]
            if lost:
                idx = torch.tensor([where[c] for c in lost])
                bias += (weight[:, idx].sum(dim=(2, 3)) * stats[reader]["mean"][idx]).sum(dim=1)
            if reader == CONTAINER:
                continue  # its columns are cut once, below, for all context blocks together
            state[f"{reader}.weight"] = weight[:, torch.tensor([where[c] for c in kept[m.name] if c in where])]
        for name in (m.producer, m.batchnorm):
            for key in ("weight", "bias", "running_mean", "running_var"):
                if name and f"{name}.{key}" in state:
                    state[f"{name}.{key}"] = state[f"{name}.{key}"][keep]
    offsets, columns = context_offsets(model.widths), []
    container = state[f"{CONTAINER}.weight"]
    for m in (m for m in MAPS if m.context is not None):
        energy = stats[f"context{m.context}"]["energy"]
        share = energy[:, kept[m.name]].sum(dim=1) / energy.sum(dim=1).clamp_min(1e-30)
        scale = energy.shape[1] / max(len(kept[m.name]), 1) * float(share.median())
        container[:, offsets[m.context] + torch.tensor(kept[m.name], dtype=torch.long)] *= scale
        columns += [offsets[m.context] + c for c in kept[m.name]]
    columns += list(range(offsets[3], container.shape[1]))
    state[f"{CONTAINER}.weight"] = container[:, torch.tensor(columns)]
    slim = LPRNet(model.num_classes, widths=widths)
    slim.load_state_dict(state, strict=True)
    return slim.eval()


def prune_to(model: LPRNet, criterion: str, target_macs: int, images: np.ndarray) -> LPRNet:
    """One pruning step: score on `images`, allocate, cut. No recovery."""
    stats = activation_stats(model, images)
    return slim_copy(model, allocate(model, channel_scores(model, criterion, stats), target_macs), stats)


def model_size(model: LPRNet) -> dict:
    return {"widths": model.widths.key(), "macs": count_macs(model.widths, model.num_classes),
            "params": sum(p.numel() for p in model.parameters())}


def build_channel_pruned(weights: str | Path, macs_ratio: float, calibration: np.ndarray, extra: np.ndarray,
                         settings: DistillSettings, steps: int, path: str | Path, stat_images: int = 512,
                         exact_cut_error: float = 1e-6, criterion: str | None = None) -> dict:
    """Prune the source to (1 - macs_ratio) of its MACs in `steps` steps, each recovered by
    distillation from the source on calibration + `extra` images, and store the state_dict.
    A step whose cut moves the calibration logits by a mean squared error of at most
    `exact_cut_error` times their variance is exact and is not distilled (0 distils every step).

    The criterion is chosen by measurement: each one prunes the source in one shot to the
    target, and the one whose logits on the calibration split are closest to the source's wins;
    a caller that measured that already (prune_search) passes its `criterion`.
    """
    if not 0 <= macs_ratio < 1:
        raise ValueError(f"macs_ratio {macs_ratio} is outside [0, 1)")
    teacher = load_model(weights)
    images = np.concatenate([calibration, extra]) if len(extra) else calibration
    scored = images[:stat_images]
    source = model_size(teacher)
    target = round(source["macs"] * (1 - macs_ratio))
    reference = predict_logits(teacher, calibration)
    exact_mse = exact_cut_error * float(reference.var())
    info: dict = {"macs_ratio": macs_ratio, "source": source, "steps": steps, "exact_cut_error": exact_cut_error,
                  "exact_cut_mse": exact_mse, "criteria": {},
                  "distill_images": len(images), "stat_images": len(scored), "settings": settings.__dict__}
    student = copy.deepcopy(teacher)
    if macs_ratio > 0:
        for candidate in CRITERIA if criterion is None else ():
            info["criteria"][candidate] = logit_error(predict_logits(prune_to(teacher, candidate, target, scored),
                                                                     calibration), reference)
            log.info("criterion %s, one shot to %d MACs: %s", candidate, target, info["criteria"][candidate])
        info["criterion"] = criterion or min(info["criteria"], key=lambda c: info["criteria"][c]["logit_mse"])
        info["history"] = []
        for step in range(1, steps + 1):
            step_target = round(source["macs"] * (1 - macs_ratio * step / steps))
            student = prune_to(student, info["criterion"], step_target, scored)
            cut = logit_error(predict_logits(student, calibration), reference)
            row = {"step": step, **model_size(student), "cut": cut, "recovered": cut, "distill": [],
                   "kept": "cut", "exact": cut["logit_mse"] <= exact_mse}
            # An exact cut (only dead filters went) is not distilled: on the real checkpoint every
            # step's cut left mse 1e-11, distillation raised it to 0.003 and the guard below threw
            # it away, about 95 s of a 2-core build's 235 s each time.
            if settings.epochs and not row["exact"]:
                # Guard: distillation can still make a nearly exact cut worse. Keep the recovered
                # weights only if they bring the calibration logits closer to the source's.
                recovered = copy.deepcopy(student)
                row["distill"] = distill(recovered, teacher, images, settings)
                row["recovered"] = logit_error(predict_logits(recovered, calibration), reference)
                if row["recovered"]["logit_mse"] < cut["logit_mse"]:
                    student, row["kept"] = recovered, "recovered"
            info["history"].append(row)
            log.info("step %d/%d: %s MACs, logit mse %.4g after the cut, %s; kept the %s weights", step, steps,
                     row["macs"], cut["logit_mse"], "exact, not distilled" if row["exact"] else
                     f"{row['recovered']['logit_mse']:.4g} after distillation", row["kept"])
    save_checkpoint(student, path)
    reloaded = load_model(path)
    if reloaded.widths != student.widths or not all(
            torch.equal(reloaded.state_dict()[k], v) for k, v in student.state_dict().items()):
        Path(path).unlink()
        raise RuntimeError(f"{path}: the stored channel-pruned weights do not reload exactly")
    result = model_size(student)
    return {**info, **result, "macs_removed": 1 - result["macs"] / source["macs"]}
