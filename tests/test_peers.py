import numpy as np
import torch

from lprnet_opt.model import load_lprnet
from lprnet_opt.peers import export_onnx, load_onnx_runner


def test_onnx_export_matches_pytorch(random_weights, images, tmp_path):
    model = load_lprnet(random_weights)
    export_onnx(model, tmp_path / "m.onnx")
    with torch.no_grad():
        expected = model(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(load_onnx_runner(tmp_path / "m.onnx")(images), expected, rtol=1e-3, atol=1e-3)


def test_openvino_runs_the_onnx_export_in_fp32(random_weights, images, tmp_path):
    from lprnet_opt.peers import load_openvino_runner

    model = load_lprnet(random_weights)
    export_onnx(model, tmp_path / "m.onnx")
    with torch.no_grad():
        expected = model(torch.from_numpy(images)).numpy()
    run = load_openvino_runner(tmp_path / "m.onnx")
    # fp32 tolerance (a bf16 run would miss it), at batch N and batch 1 alike.
    np.testing.assert_allclose(run(images), expected, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(run(images[:1]), expected[:1], rtol=1e-3, atol=1e-3)
