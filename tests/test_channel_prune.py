"""Channel pruning: the coupling, the slim checkpoint and its reader, on a tiny random LPRNet."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lprnet_opt.compress.channel_prune import (CRITERIA, activation_stats, allocate, build_channel_pruned, channel_scores,
                                      prune_to, slim_copy)
from lprnet_opt.coupling import MAPS, count_macs, pool_positions
from lprnet_opt.checkpoint import CheckpointError, load_model, model_from_state, widths_of_state
from lprnet_opt.compress.distill import DistillSettings
from lprnet_opt.model import DENSE, ChannelPrefixMaxPool, LPRNet, Widths, predict_logits
from lprnet_opt.onnx_export import export_onnx, int8_graph
from lprnet_opt.rewrites import fp32_graph, pad_classes

QUICK = DistillSettings(epochs=1, batch_size=4, learning_rate=1e-4, temperature=2.0, seed=0)
SLIM = Widths(stem=32, block4=(16, 16, 32), tap1=80, tap1_pooled=32, block8=(32, 48, 32), block8_out=64,
              block11=(32, 32, 16), tap2=48, tap2_pooled=16, head=64)


@pytest.fixture
def plates() -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, (24, 3, 24, 94)).astype(np.float32)


def macs_by_hooks(model: LPRNet) -> int:
    total = [0]
    hooks = [m.register_forward_hook(lambda mod, i, out: total.__setitem__(0, total[0] + out.numel() * mod.weight[0].numel()))
             for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(1, 3, 24, 94))
    for hook in hooks:
        hook.remove()
    return total[0]


@pytest.mark.parametrize("widths", [DENSE, SLIM])
def test_mac_count_from_the_coupling_table_matches_the_built_model(widths):
    assert count_macs(widths, 68) == macs_by_hooks(LPRNet(widths=widths))


def test_reader_rebuilds_the_widths_from_the_shapes(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "slim.pt"
    torch.save(LPRNet(widths=SLIM).state_dict(), path)
    model = load_model(path)
    assert model.widths == SLIM and not SLIM.dense
    assert [type(model.backbone[i]) for i in (7, 14)] == [ChannelPrefixMaxPool] * 2
    assert model(torch.zeros(2, 3, 24, 94)).shape == (2, 68, 18)
    assert widths_of_state(LPRNet().state_dict(), "x") == DENSE
    assert Widths.from_key(SLIM.key()) == SLIM and Widths.from_key(DENSE.key()) == DENSE


@pytest.mark.parametrize("tensor, shape, message", [
    ("backbone.11.block.0.weight", (32, 60, 1, 1), "backbone.11.block.0.weight (32, 60, 1, 1)"),
    ("backbone.8.block.0.weight", (32, 96, 1, 1), "backbone.8.block.0.weight reads 96 channels of a 80-channel map"),
    ("container.0.weight", (68, 300, 1, 1), "container.0.weight (68, 300, 1, 1)"),
])
def test_inconsistent_slim_shapes_are_one_line_naming_the_tensor(tensor, shape, message):
    state = LPRNet(widths=SLIM).state_dict()
    state[tensor] = torch.zeros(shape)
    with pytest.raises(CheckpointError) as err:
        model_from_state(state, "slim.pt")
    assert message in str(err.value) and "slim.pt" in str(err.value) and "\n" not in str(err.value)


DEAD = {"stem": range(16), "tap1": range(32), "block8.0": range(16), "block8_out": range(100, 132),
        "tap2": range(0, 64), "head": range(0, 256, 4)}


def with_dead_channels(seed: int = 0) -> LPRNet:
    """A random LPRNet in which the `DEAD` filters output exactly zero (zero weights, a negative
    shift, then ReLU): in the stem, both pooled and container-only channels of the two context
    maps, a block's inside and output, and the head."""
    torch.manual_seed(seed)
    model = LPRNet().eval()
    with torch.no_grad():
        for m in MAPS:
            if m.name in DEAD:
                idx = torch.tensor(list(DEAD[m.name]))
                conv = model.get_submodule(m.producer)
                conv.weight[idx], conv.bias[idx] = 0, -1.0 if m.batchnorm is None else 0
                if m.batchnorm:
                    model.get_submodule(m.batchnorm).bias[idx] = -2.0
    return model


def test_removing_dead_filters_keeps_every_logit(plates):
    """Every coupling at once: filters whose output is always zero go without changing a logit,
    whichever map they are in (container columns and their rescale, pooled positions, BatchNorm,
    the readers' inputs)."""
    model = with_dead_channels()
    kept = {m.name: [c for c in range(model.get_submodule(m.producer).out_channels) if c not in DEAD.get(m.name, ())]
            for m in MAPS}
    for m in (m for m in MAPS if m.pool is not None):  # the layout a slim model keeps: pooled channels first
        pooled = pool_positions(model, m)
        kept[m.name].sort(key=lambda c: (c not in pooled, pooled.get(c, c)))
    slim = slim_copy(model, kept, activation_stats(model, plates))
    assert slim.widths == Widths(stem=48, tap1=96, tap1_pooled=48, block8=(48, 64, 64), block8_out=224, tap2=192,
                                 tap2_pooled=48, head=192)
    np.testing.assert_allclose(predict_logits(slim, plates), predict_logits(model, plates), rtol=1e-5, atol=1e-4)


def test_allocation_takes_free_channels_first(plates):
    model = with_dead_channels()
    stats = activation_stats(model, plates)
    scores = channel_scores(model, "replacement", stats)
    kept = allocate(model, scores, round(count_macs(DENSE, 68) * 0.8))
    removed = {m.name: set(range(len(scores[m.name]))) - set(kept[m.name]) for m in MAPS}
    assert sum(map(len, removed.values())) >= 64
    assert all(float(scores[name][c]) == 0 for name, gone in removed.items() for c in gone)


@pytest.mark.parametrize("exact_cut_error", [0.0, 1e-6])
def test_an_exact_cut_is_kept_and_not_made_worse(plates, tmp_path, exact_cut_error):
    """An exact cut (only dead filters go) cannot be improved by distillation: by default it is
    not distilled at all; when distillation is forced (threshold 0) the guard keeps the cut's
    weights. The record says which weights each step kept."""
    weights = tmp_path / "dead.pt"
    torch.save(with_dead_channels().state_dict(), weights)
    path = tmp_path / "c.pt"
    info = build_channel_pruned(weights, 0.2, plates[:8], plates[8:], QUICK, 1, path, exact_cut_error=exact_cut_error)
    (step,) = info["history"]
    assert step["cut"]["logit_mse"] < 1e-8 and step["kept"] == "cut"
    if exact_cut_error:
        assert step["exact"] and not step["distill"] and step["recovered"] == step["cut"]
    else:
        assert not step["exact"] and step["distill"] and step["recovered"]["logit_mse"] > 1e-8
    exact = prune_to(load_model(weights), info["criterion"], step["macs"], plates)
    np.testing.assert_array_equal(predict_logits(load_model(path), plates), predict_logits(exact, plates))


def test_allocation_is_in_multiples_of_16_and_meets_the_target(random_weights, plates):
    model = load_model(random_weights)
    target = round(count_macs(DENSE, 68) * 0.6)
    stats = activation_stats(model, plates)
    for criterion in CRITERIA:
        kept = allocate(model, channel_scores(model, criterion, stats), target)
        slim = prune_to(model, criterion, target, plates)
        assert count_macs(slim.widths, 68) <= target
        assert all(len(channels) % 16 == 0 for channels in kept.values()), criterion
        assert slim.widths.tap1_pooled % 16 == 0 and slim.widths.tap2_pooled % 16 == 0
    assert slim.num_classes == 68 and slim.container[0].out_channels == 68  # never pruned


def test_ratio_zero_returns_the_dense_logits(random_weights, plates, tmp_path):
    info = build_channel_pruned(random_weights, 0.0, plates[:8], plates[8:], QUICK, 2, tmp_path / "c.pt")
    assert info["macs_removed"] == 0 and info["widths"] == DENSE.key()
    slim, dense = load_model(tmp_path / "c.pt"), load_model(random_weights)
    assert torch.equal(predict_logits_tensor(slim, plates), predict_logits_tensor(dense, plates))


def predict_logits_tensor(model: LPRNet, plates: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(predict_logits(model, plates))


def test_slim_checkpoint_roundtrips_and_records_the_choice(random_weights, plates, tmp_path):
    path = tmp_path / "c.pt"
    info = build_channel_pruned(random_weights, 0.5, plates[:8], plates[8:], QUICK, 2, path, exact_cut_error=0)
    model = load_model(path)
    assert model.widths.key() == info["widths"] and 0.5 <= info["macs_removed"] < 0.6
    assert info["macs"] == count_macs(model.widths, 68) == macs_by_hooks(model)
    assert info["criterion"] == min(info["criteria"], key=lambda c: info["criteria"][c]["logit_mse"])
    assert [row["step"] for row in info["history"]] == [1, 2] and info["history"][-1]["distill"]
    for row in info["history"]:
        better = row["recovered"]["logit_mse"] < row["cut"]["logit_mse"]
        assert row["kept"] == ("recovered" if better else "cut")
    raw = torch.load(path, weights_only=True)  # a plain state_dict of tensors
    assert all(isinstance(v, torch.Tensor) for v in raw.values())
    again = load_model(path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert path.stat().st_size < 0.75 * random_weights.stat().st_size


@pytest.mark.parametrize("ratio", [1.0, -0.1])
def test_ratio_outside_range_is_refused(random_weights, plates, tmp_path, ratio):
    with pytest.raises(ValueError, match="outside"):
        build_channel_pruned(random_weights, ratio, plates, plates[:0], QUICK, 1, tmp_path / "c.pt")
    assert not (tmp_path / "c.pt").exists()


def test_slim_model_exports_keep_its_logits(tmp_path, plates):
    """The export rewrites take a slim LPRNet as they take the full one."""
    torch.manual_seed(0)
    slim = LPRNet(widths=SLIM).eval()
    reference = predict_logits(slim, plates)
    for graph in (fp32_graph(slim), int8_graph(slim), pad_classes(fp32_graph(slim))):
        np.testing.assert_allclose(predict_logits(graph, plates), reference, atol=1e-4)
    import onnxruntime as ort

    export_onnx(slim, tmp_path / "slim.onnx")
    session = ort.InferenceSession(str(tmp_path / "slim.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"images": plates})[0], reference, atol=1e-4)
