import numpy as np
import torch

from lprnet_opt.checkpoint import load_model
from lprnet_opt.onnx_export import export_onnx
from lprnet_opt.runtimes import load_runner


def test_onnx_export_matches_pytorch(random_weights, images, tmp_path):
    model = load_model(random_weights)
    export_onnx(model, tmp_path / "m.onnx")
    with torch.no_grad():
        expected = model(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(load_runner("onnx_runtime", tmp_path / "m.onnx", 2)(images), expected, rtol=1e-3, atol=1e-3)


def test_openvino_runs_the_onnx_export_in_fp32(random_weights, images, tmp_path):
    model = load_model(random_weights)
    export_onnx(model, tmp_path / "m.onnx")
    with torch.no_grad():
        expected = model(torch.from_numpy(images)).numpy()
    run = load_runner("openvino_runtime", tmp_path / "m.onnx", 2)
    # fp32 tolerance (a bf16 run would miss it), at batch N and batch 1 alike.
    np.testing.assert_allclose(run(images), expected, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(run(images[:1]), expected[:1], rtol=1e-3, atol=1e-3)


def test_runtime_probe_loads_only_its_own_runtime(random_weights, tmp_path):
    """The peak-RSS probe of an ONNX or OpenVINO variant must not count torch's memory."""
    import subprocess
    import sys

    export_onnx(load_model(random_weights), tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 24, 94), np.float32))
    for runtime in ("onnx_runtime", "openvino_runtime"):
        script = ("import runpy, sys; sys.argv = ['probe', sys.argv[1], sys.argv[2], sys.argv[3], '1']; "
                  "runpy.run_module('lprnet_opt.runtimes', run_name='__main__'); print('torch' in sys.modules)")
        done = subprocess.run([sys.executable, "-c", script, runtime, str(tmp_path / "m.onnx"), str(tmp_path / "x.npy")],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        peak_mb, torch_loaded = done.stdout.split()[-2:]
        assert float(peak_mb) > 10 and torch_loaded == "False", runtime
