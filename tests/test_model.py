"""The two exact rewrites, checked against a verbatim re-implementation of the original forward."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from lprnet_opt.checkpoint import CheckpointError, load_model
from lprnet_opt.model import LPRNet, fold_batchnorm
from lprnet_opt.rewrites import ChannelPrefixMaxPool, group_strided_channels, pad_classes, pools_as_depthwise


class OriginalForward(nn.Module):
    """LPRNet_Pytorch's forward as published: MaxPool3d on 4-D tensors, batch-wide mean."""

    def __init__(self, model: LPRNet) -> None:
        super().__init__()
        layers = list(model.backbone)
        pools = {3: (1, 1), 7: (2, 2), 14: (4, 2)}  # index: (channel stride, width stride)
        for i, (sc, sw) in pools.items():
            layers[i] = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(sc, 1, sw))
        self.backbone = nn.Sequential(*layers)
        self.container = model.container

    def forward(self, x):
        keep_features = list()
        for i, layer in enumerate(self.backbone.children()):
            x = layer(x)
            if i in [2, 6, 13, 22]:
                keep_features.append(x)
        global_context = list()
        for i, f in enumerate(keep_features):
            if i in [0, 1]:
                f = nn.AvgPool2d(kernel_size=5, stride=5)(f)
            if i in [2]:
                f = nn.AvgPool2d(kernel_size=(4, 10), stride=(4, 2))(f)
            f_pow = torch.pow(f, 2)
            f_mean = torch.mean(f_pow)
            f = torch.div(f, f_mean)
            global_context.append(f)
        x = torch.cat(global_context, 1)
        x = self.container(x)
        return torch.mean(x, dim=2)


def backbone_outputs(backbone, x):
    outs = []
    for layer in backbone:
        x = layer(x)
        outs.append(x)
    return outs


@pytest.fixture(params=["random", "real"])
def model(request, random_weights) -> LPRNet:
    if request.param == "real":
        return load_model(request.getfixturevalue("real_weights"))
    return load_model(random_weights)


def test_pooling_rewrite_is_bit_exact(model):
    original = OriginalForward(model).eval()
    x = torch.randn(3, 3, 24, 94)
    with torch.no_grad():
        ours, theirs = backbone_outputs(model.backbone, x), backbone_outputs(original.backbone, x)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert torch.equal(a, b), f"backbone layer {i} differs"


def test_per_sample_norm_equals_original_at_batch_1(model):
    original = OriginalForward(model).eval()
    x = torch.randn(1, 3, 24, 94)
    with torch.no_grad():
        torch.testing.assert_close(model(x), original(x), rtol=1e-5, atol=1e-5)


def test_prediction_does_not_depend_on_batch_mates(model):
    x = torch.randn(5, 3, 24, 94)
    with torch.no_grad():
        alone = torch.cat([model(x[i : i + 1]) for i in range(5)])
        together = model(x)
        original_together = OriginalForward(model).eval()(x)
    torch.testing.assert_close(alone, together, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(alone, original_together, atol=1e-3)  # the bug we removed


def test_export_rewrites_keep_the_logits(model):
    """Class padding, strided-channel grouping (what TVM compiles) and depthwise context pools
    (the INT8 ONNX graph) change no logit."""
    folded = fold_batchnorm(model)
    padded = pad_classes(folded)
    assert padded.model.backbone[20].out_channels == padded.model.container[0].out_channels == 80
    assert padded.model.container[0].in_channels == 448 + 80
    grouped = group_strided_channels(folded)
    assert [type(grouped.backbone[i]) for i in (7, 14)] == [ChannelPrefixMaxPool] * 2
    both = pad_classes(grouped)
    depthwise = pools_as_depthwise(grouped)
    assert [type(p) for p in depthwise.context_pools] == [nn.Conv2d] * 3 + [nn.Identity]
    assert [p.groups for p in depthwise.context_pools[:3]] == [64, 128, 256]
    x = torch.randn(4, 3, 24, 94)
    with torch.no_grad():
        reference = folded(x)
        for rewritten in (padded, grouped, both, depthwise):
            torch.testing.assert_close(rewritten(x), reference, rtol=1e-5, atol=1e-5)
    for rewrite in (pad_classes, group_strided_channels):
        with pytest.raises(ValueError, match="fold_batchnorm"):
            rewrite(model)  # e.g. a BatchNorm of 68 channels cannot take 80


def test_real_checkpoint_keys_load_unchanged(real_weights):
    state = torch.load(real_weights, map_location="cpu", weights_only=True)
    assert set(state) == set(LPRNet().state_dict())


def test_subnormal_weights_are_flushed_on_load_and_change_no_logit(tmp_path, model):
    state = model.state_dict()
    tiny = torch.finfo(torch.float32).tiny
    state["backbone.0.weight"].view(-1)[:100] = tiny / 4  # subnormal, as in the public checkpoint
    state["container.0.bias"][:3] = -tiny / 1000
    path = tmp_path / "subnormal.pth"
    torch.save(state, path)
    stored, flushed = load_model(path, flush=False), load_model(path)
    assert (stored.backbone[0].weight.abs() == tiny / 4).sum() == 100
    assert not any(((t != 0) & (t.abs() < tiny)).any() for t in flushed.state_dict().values() if t.is_floating_point())
    assert (flushed.backbone[0].weight.view(-1)[:100] == 0).all() and (flushed.container[0].bias[:3] == 0).all()
    x = torch.rand(4, 3, 24, 94)
    with torch.inference_mode():
        assert torch.equal(stored(x), flushed(x))


def test_real_checkpoint_has_subnormals_that_change_no_plate(real_weights, real_images):
    from lprnet_opt.chars import greedy_decode
    from lprnet_opt.data import load_plates
    from lprnet_opt.checkpoint import read_state_dict
    from lprnet_opt.model import flush_subnormals, predict_logits

    assert flush_subnormals(read_state_dict(real_weights, flush=False)) > 100_000
    images = load_plates(sorted(Path(real_images).glob("*.jpg"))[:64]).images
    stored = predict_logits(load_model(real_weights, flush=False), images)
    flushed = predict_logits(load_model(real_weights), images)
    assert greedy_decode(stored) == greedy_decode(flushed)
    assert float(abs(stored - flushed).max()) < 1e-5


def test_other_class_count_is_a_clear_error(tmp_path):
    path = tmp_path / "lpr66.pth"
    torch.save(LPRNet(num_classes=66).state_dict(), path)
    with pytest.raises(CheckpointError, match=r"lpr66\.pth: checkpoint has 66 classes"):
        load_model(path)


def test_other_architecture_is_a_clear_error(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(nn.Sequential(nn.Conv2d(3, 8, 3)).state_dict(), path)
    with pytest.raises(CheckpointError, match=r"resnet\.pth: weights do not fit LPRNet"):
        load_model(path)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"broken\.pth: not a readable PyTorch checkpoint"):
        load_model(path)


def test_real_checkpoint_accuracy_on_evaluation_split(real_weights, real_images):
    from lprnet_opt.chars import greedy_decode
    from lprnet_opt.data import load_plates, make_split
    from lprnet_opt.metrics import plate_accuracy
    from lprnet_opt.runtimes import run_batched
    from lprnet_opt.runtimes.eager import torch_runner

    split = make_split(real_images, None, 0.3)
    evaluation = load_plates([Path(p) for p in split["evaluation"]])
    plates = greedy_decode(run_batched(torch_runner(load_model(real_weights), 2), evaluation.images, 64))
    assert 0.88 <= plate_accuracy(plates, evaluation.labels) <= 0.91
