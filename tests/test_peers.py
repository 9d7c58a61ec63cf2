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
