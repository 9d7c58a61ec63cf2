"""The one reader and writer of LPRNet checkpoints: plain state_dicts, dense or bitmask-packed,
full-width or channel-pruned (the tensor shapes define the widths, model.Widths).

Every file is read with `weights_only=True` (tensors and plain containers only, no pickled
code), read once, has its subnormal weights flushed (`model.flush_subnormals`), and is
checked against the character set and the architecture before a model is built from it.
A packed file keeps each sparse tensor as a bitmask plus its non-zero values, so its size
shrinks with sparsity, and unpacks to exactly the same dense tensors.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from .atomic import atomic_path
from .model import DENSE, NUM_CLASSES, LPRNet, Widths, flush_subnormals

log = logging.getLogger(__name__)
PACKED_FORMAT = "lprnet-opt-sparse-v1"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or for another architecture."""


def pack_tensor(tensor: torch.Tensor) -> dict | torch.Tensor:
    """Bitmask + non-zero values when that is smaller than the dense tensor."""
    flat = tensor.detach().flatten()
    nonzero = flat != 0
    if nonzero.sum().item() * 4 + flat.numel() / 8 >= flat.numel() * 4:
        return tensor.detach().clone()
    mask = torch.from_numpy(np.packbits(nonzero.numpy()))
    return {"shape": list(tensor.shape), "mask": mask, "values": flat[nonzero].clone()}


def unpack_tensor(entry: dict | torch.Tensor, name: str = "tensor") -> torch.Tensor:
    if isinstance(entry, torch.Tensor):
        return entry
    try:
        shape = [int(d) for d in entry["shape"]]
        numel = int(np.prod(shape))
        bits = np.unpackbits(entry["mask"].numpy())
        nonzero = torch.from_numpy(bits[:numel].astype(bool))
        values = entry["values"]
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CheckpointError(f"packed tensor {name} is inconsistent ({err})") from None
    if not numel <= len(bits) < numel + 8 or int(nonzero.sum()) != values.numel():
        raise CheckpointError(f"packed tensor {name} is inconsistent (shape {shape}, {len(bits)} mask bits, "
                              f"{int(nonzero.sum())} set, {values.numel()} values)")
    dense = torch.zeros(numel, dtype=values.dtype)
    dense[nonzero] = values
    return dense.reshape(shape)


def read_state_dict(path: str | Path, flush: bool = True) -> dict[str, torch.Tensor]:
    """Read a dense or packed state_dict safely, mapping CUDA tensors to CPU.

    Subnormal weights are flushed to zero (see `model.flush_subnormals`) unless `flush` is False.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({err})") from None
    if isinstance(raw, dict) and raw.get("format") == PACKED_FORMAT:
        try:
            state = {name: unpack_tensor(entry, name) for name, entry in raw["tensors"].items()}
        except CheckpointError as err:
            raise CheckpointError(f"{path}: {err}") from None
    else:
        state = raw["state_dict"] if isinstance(raw, dict) and "state_dict" in raw else raw
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state_dict of tensors")
    flushed = flush_subnormals(state) if flush else 0
    if flushed:
        log.info("%s: flushed %d subnormal weights to zero", path, flushed)
    return state


# Where each width is read: (field, tensor, dim); a field that is a triple reads three tensors.
_WIDTH_TENSORS = (
    ("stem", "backbone.0.weight", 0),
    ("block4", ("backbone.4.block.0.weight", "backbone.4.block.2.weight", "backbone.4.block.4.weight"), 0),
    ("tap1", "backbone.4.block.6.weight", 0),
    ("tap1_pooled", "backbone.8.block.0.weight", 1),
    ("block8", ("backbone.8.block.0.weight", "backbone.8.block.2.weight", "backbone.8.block.4.weight"), 0),
    ("block8_out", "backbone.8.block.6.weight", 0),
    ("block11", ("backbone.11.block.0.weight", "backbone.11.block.2.weight", "backbone.11.block.4.weight"), 0),
    ("tap2", "backbone.11.block.6.weight", 0),
    ("tap2_pooled", "backbone.16.weight", 1),
    ("head", "backbone.16.weight", 0),
)


def widths_of_state(state: dict[str, torch.Tensor], source: str) -> Widths:
    """The channel widths a state_dict's shapes define (model.Widths); a width whose tensor is
    missing keeps LPRNet's, so the shape check in `model_from_state` names that tensor."""
    def read(name: str, dim: int, default: int) -> int:
        tensor = state.get(name)
        return int(tensor.shape[dim]) if tensor is not None and tensor.dim() == 4 else default

    found = {}
    for field, names, dim in _WIDTH_TENSORS:
        default = getattr(DENSE, field)
        if isinstance(names, tuple):
            found[field] = tuple(read(n, dim, d) for n, d in zip(names, default))
        else:
            found[field] = read(names, dim, default)
    widths = Widths(**found)
    for pooled, whole, tensor in (("tap1_pooled", "tap1", "backbone.8.block.0.weight"),
                                  ("tap2_pooled", "tap2", "backbone.16.weight")):
        if not 0 < getattr(widths, pooled) <= getattr(widths, whole):
            raise CheckpointError(f"{source}: weights do not fit LPRNet ({tensor} reads {getattr(widths, pooled)} "
                                  f"channels of a {getattr(widths, whole)}-channel map)")
    return widths


def model_from_state(state: dict[str, torch.Tensor], source: str, num_classes: int = NUM_CLASSES) -> LPRNet:
    """An eval-mode LPRNet holding `state`, as wide as its shapes say (a channel-pruned
    checkpoint builds a slimmer LPRNet); errors name `source` and the first misfit."""
    found = state.get("container.0.weight")
    if found is not None and found.shape[0] != num_classes:
        raise CheckpointError(f"{source}: checkpoint has {found.shape[0]} classes, the character set has {num_classes}")
    model = LPRNet(num_classes, widths=widths_of_state(state, source))
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misfit = [f"{k} {tuple(state[k].shape)} where LPRNet has {tuple(v.shape)}"
              for k, v in expected.items() if k in state and state[k].shape != v.shape]
    problems = [f"{len(missing)} tensors missing, first {missing[0]}" if missing else "",
                f"{len(unexpected)} unexpected, first {unexpected[0]}" if unexpected else "",
                misfit[0] if misfit else ""]
    if any(problems):
        raise CheckpointError(f"{source}: weights do not fit LPRNet ({'; '.join(p for p in problems if p)})")
    model.load_state_dict(state, strict=True)
    return model.eval()


def load_model(path: str | Path, flush: bool = True) -> LPRNet:
    """The one place that turns a checkpoint file into an eval-mode LPRNet."""
    return model_from_state(read_state_dict(path, flush), str(path))


def save_checkpoint(model: torch.nn.Module, path: str | Path, packed: bool = False) -> None:
    """Write a plain state_dict (the LPRNet_Pytorch format), or its packed form, atomically."""
    state = model.state_dict()
    record = {"format": PACKED_FORMAT, "tensors": {n: pack_tensor(t) for n, t in state.items()}} if packed else state
    with atomic_path(path) as tmp:
        torch.save(record, tmp)
