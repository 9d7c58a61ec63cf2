"""The one reader and writer of LPRNet checkpoints: plain state_dicts, dense or bitmask-packed.

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
from .model import NUM_CLASSES, LPRNet, flush_subnormals

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


def model_from_state(state: dict[str, torch.Tensor], source: str, num_classes: int = NUM_CLASSES) -> LPRNet:
    """An eval-mode LPRNet holding `state`; errors name `source` and the first misfit."""
    found = state.get("container.0.weight")
    if found is not None and found.shape[0] != num_classes:
        raise CheckpointError(f"{source}: checkpoint has {found.shape[0]} classes, the character set has {num_classes}")
    model = LPRNet(num_classes)
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
