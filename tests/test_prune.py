from __future__ import annotations

import numpy as np
import pytest
import torch

from lprnet_opt.compress.distill import DistillSettings
from lprnet_opt.checkpoint import load_model, pack_tensor, unpack_tensor
from lprnet_opt.model import conv_sparsity
from lprnet_opt.compress.prune import apply_global_l1, build_pruned

QUICK = DistillSettings(epochs=1, batch_size=4, learning_rate=1e-4, temperature=2.0, seed=0)


def test_pack_roundtrip_exact():
    t = torch.randn(64, 32, 3, 3)
    t[t.abs() < 0.7] = 0
    packed = pack_tensor(t)
    assert isinstance(packed, dict)
    assert torch.equal(unpack_tensor(packed), t)


def test_global_l1_hits_the_ratio(random_weights):
    model = load_model(random_weights)
    apply_global_l1(model, 0.5)
    assert conv_sparsity(model) == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("ratio", [1.0, -0.1])
def test_ratio_outside_range_is_refused(random_weights, ratio):
    with pytest.raises(ValueError, match="outside"):
        apply_global_l1(load_model(random_weights), ratio)


def test_pruned_artifact_roundtrips_exactly_and_is_small(random_weights, images, tmp_path):
    path = tmp_path / "pruned.pt"
    info = build_pruned(random_weights, 0.5, images, QUICK, path)
    assert info["sparsity"] == pytest.approx(0.5, abs=1e-3)
    model = load_model(path)
    assert conv_sparsity(model) == pytest.approx(info["sparsity"])
    assert path.stat().st_size < 0.6 * random_weights.stat().st_size
    again = load_model(path)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name


def test_distillation_moves_towards_teacher(random_weights, images, tmp_path):
    teacher = load_model(random_weights)
    with torch.no_grad():
        target = teacher(torch.from_numpy(images))
    errors = {}
    for epochs in (0, 3):
        settings = DistillSettings(epochs=epochs, batch_size=6, learning_rate=1e-3, temperature=2.0, seed=0)
        build_pruned(random_weights, 0.7, images, settings, tmp_path / f"p{epochs}.pt")
        with torch.no_grad():
            errors[epochs] = float((load_model(tmp_path / f"p{epochs}.pt")(torch.from_numpy(images)) - target).abs().mean())
    assert errors[3] < errors[0]


def test_packed_checkpoint_gets_the_same_checks_as_a_dense_one(tmp_path):
    """The packed path once skipped the class-count check and the subnormal flush."""
    from lprnet_opt.checkpoint import CheckpointError, save_checkpoint
    from lprnet_opt.model import LPRNet

    other = LPRNet(num_classes=66)
    apply_global_l1(other, 0.6)
    for module, name in [(m, "weight") for m in other.modules() if isinstance(m, torch.nn.Conv2d)]:
        torch.nn.utils.prune.remove(module, name)
    save_checkpoint(other, tmp_path / "packed66.pt", packed=True)
    with pytest.raises(CheckpointError, match=r"packed66\.pt: checkpoint has 66 classes"):
        load_model(tmp_path / "packed66.pt")

    model = LPRNet()
    with torch.no_grad():
        model.backbone[0].weight.view(-1)[:10] = torch.finfo(torch.float32).tiny / 4
        model.backbone[0].weight.view(-1)[10:1000] = 0
    save_checkpoint(model, tmp_path / "subnormal.pt", packed=True)
    assert (load_model(tmp_path / "subnormal.pt").backbone[0].weight.view(-1)[:10] == 0).all()


def test_inconsistent_packed_tensor_is_named(tmp_path):
    from lprnet_opt.checkpoint import PACKED_FORMAT, CheckpointError, pack_tensor

    weight = torch.zeros(64, 3, 3, 3)
    weight[0] = 1.0
    entry = pack_tensor(weight)
    entry["shape"] = [64, 3, 3, 4]  # more elements than the mask covers
    torch.save({"format": PACKED_FORMAT, "tensors": {"backbone.0.weight": entry}}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"bad\.pt: packed tensor backbone\.0\.weight is inconsistent"):
        load_model(tmp_path / "bad.pt")
