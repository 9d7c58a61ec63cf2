"""Outlier channels equalized before INT8 (compress/equalize.py): the rewrite keeps the fp32
logits, and a real ONNX Runtime INT8 build of a model with one outlier channel keeps the plates
that the same build without it loses. The outlier is put into the shipped synthetic baseline by
an exact rewrite (a channel of backbone.13 scaled up, its readers scaled down), as training put
one into the real checkpoint's (docs/int8.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import REPO
from lprnet_opt.checkpoint import load_model
from lprnet_opt.compress.equalize import OUTLIER_FACTOR, channel_ranges, equalize_outliers
from lprnet_opt.compress.int8_guard import GuardSettings
from lprnet_opt.onnx_export import int8_graph

SOURCE = REPO / "data/baseline_synthetic.pth"
FACTOR = 150.0


def with_outlier(images: np.ndarray) -> tuple[torch.nn.Module, int]:
    """The synthetic baseline (int8_graph form) with its widest-ranging channel of backbone.13
    that the head reads made FACTOR times wider; the same logits."""
    model = int8_graph(load_model(SOURCE))
    reader = model.backbone[16]
    ranges = channel_ranges(model, images)[13][: reader.in_channels]
    channel = int(torch.argmax(ranges))
    with torch.no_grad():
        producer = model.backbone[11].block[-1]
        producer.weight[channel] *= FACTOR
        producer.bias[channel] *= FACTOR
        reader.weight[:, channel] /= FACTOR
        model.context_pools[2].weight[channel] /= FACTOR
    return model, channel


def logits(model: torch.nn.Module, images: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.from_numpy(images))


def test_equalizing_finds_the_outlier_channel_and_keeps_the_logits(plates48):
    images = plates48.images
    model, channel = with_outlier(images)
    equalized, record = equalize_outliers(model, images)
    moved = {r["map"]: r for r in record}
    assert channel in moved["backbone.13"]["channels"]
    before, after = channel_ranges(model, images)[13], channel_ranges(equalized, images)[13]
    assert float(before.max()) == pytest.approx(float(before[channel]))
    # The outlier is brought to the bound, OUTLIER_FACTOR typical channels wide: far below its range.
    assert float(after.max()) == pytest.approx(moved["backbone.13"]["scaled_to"], rel=1e-3)
    assert float(after.max()) < float(before.max()) / 5
    reference = logits(model, images)
    assert torch.allclose(logits(equalized, images), reference, atol=1e-4 * float(reference.abs().max()))
    # Equalizing again finds nothing more to move.
    assert equalize_outliers(equalized, images)[1] == []
    assert OUTLIER_FACTOR > 1


def test_int8_build_of_a_model_with_an_outlier_channel_keeps_its_plates_only_equalized(plates48, tmp_path):
    from lprnet_opt.chars import greedy_decode
    from lprnet_opt.compress.int8_guard import Judge
    from lprnet_opt.compress.onnx_quantize import build_onnx_int8

    images = plates48.images
    model, channel = with_outlier(images)  # int8_graph form: the build's rewrites leave it as it is
    judge = Judge(images, greedy_decode(logits(model, images).numpy()), "the model's own plates")
    agreement = {}
    for equalize in (False, True):
        record = build_onnx_int8(model, images[:24], judge, max_fp32_layers=0, scan_images=8, threads=1,
                                 path=tmp_path / f"int8_{equalize}.onnx",
                                 guard=GuardSettings(min_agreement=0.0, max_extra_fp32_layers=0),
                                 methods=("minmax",), timing_runs=5, equalize=equalize)
        agreement[equalize] = record["guard"]["attempts"][0]["agreement"]
        if equalize:
            assert channel in {c for r in record["equalized"] for c in r["channels"]}
        else:
            assert record["equalized"] is None
    assert agreement[True] >= 0.9, agreement
    assert agreement[True] > agreement[False] + 0.2, agreement


def test_openvino_int8_of_a_model_with_an_outlier_channel_ships_the_equalized_qdq(plates48, tmp_path):
    """The equalized QDQ candidate agrees with fp32 on more time steps than NNCF's four, so it
    is chosen, keeps the plates, and runs INT8 in OpenVINO (u8 convs in its execution graph)."""
    from lprnet_opt.chars import greedy_decode
    from lprnet_opt.compress.int8_guard import Judge
    from lprnet_opt.compress.openvino_quantize import build_openvino_int8
    from lprnet_opt.onnx_export import export_onnx
    from lprnet_opt.runtimes import load_runner

    images = plates48.images
    model, channel = with_outlier(images)
    export_onnx(model, tmp_path / "fp32.onnx")
    judge = Judge(images, greedy_decode(logits(model, images).numpy()), "the model's own plates")
    record = build_openvino_int8(tmp_path / "fp32.onnx", images[:24], judge, 1, tmp_path / "m.xml",
                                 GuardSettings(min_agreement=0.0, max_extra_fp32_layers=0), 8,
                                 source=model, qdq_methods=("minmax",))
    nncf_rows = [r for r in record["candidates"] if r["tool"] == "nncf"]
    assert len(nncf_rows) == 4 and record["chosen"]["tool"] == "onnxruntime qdq", record["candidates"]
    assert record["chosen"]["frame_agreement"] > max(r["frame_agreement"] for r in nncf_rows)
    assert channel in {c for r in record["equalized"] for c in r["channels"]}
    assert record["guard"]["attempts"][0]["agreement"] >= 0.9, record["guard"]
    ran = load_runner("openvino_runtime", tmp_path / "m.xml", 1).precision["conv_precisions"]
    assert ran.get("u8", 0) >= 10, ran
