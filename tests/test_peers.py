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


def test_timing_process_holds_only_its_own_runtime(random_weights, tmp_path):
    """The peak RSS of an ONNX Runtime or OpenVINO variant must not count torch's memory."""
    from lprnet_opt.measure.timing import time_alone

    export_onnx(load_model(random_weights), tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 24, 94), np.float32))
    for runtime in ("onnx_runtime", "openvino_runtime"):
        result = time_alone(runtime, tmp_path / "m.onnx", tmp_path / "x.npy", 1, 1, 3, 2, 1)
        assert not result["torch_imported"] and result["peak_rss_mb"] > 10, runtime
    assert time_alone("eager", random_weights, tmp_path / "x.npy", 1, 1, 3)["torch_imported"]


def test_torch_compile_snippet_of_the_report_runs(random_weights, tmp_path):
    """The report's three lines for a torch_compile variant, in a fresh interpreter."""
    import subprocess
    import sys

    from lprnet_opt.geometry import BATCH1_SHAPE
    from lprnet_opt.kinds import snippet_of
    from lprnet_opt.runtimes import load_runner

    code = snippet_of("torch_compile", str(random_weights)) + "\nimport numpy as np; np.save('out.npy', logits.numpy())"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = load_runner("eager", random_weights, 1)(np.zeros(BATCH1_SHAPE, np.float32))
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-4)
