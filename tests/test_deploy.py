"""Deploy bundles on their own (the fresh-venv check of every kind: tests/test_pipeline.py)."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lprnet_opt.chars import greedy_decode
from lprnet_opt.data import list_images, load_plates, read_image
from lprnet_opt.deploy.bundle import build_bundle
from lprnet_opt.runtimes import load_runner


def bundle_of(kind: str, artifact: Path, where: Path) -> tuple[Path, dict]:
    record = build_bundle("v", kind, artifact, 1, where / "model", where / "predict.py", where / "requirements.txt",
                          where / "bundle.json")
    return where, record


@pytest.fixture(scope="module")
def onnx_bundle(random_weights, tmp_path_factory) -> tuple[Path, dict]:
    from lprnet_opt.checkpoint import load_model
    from lprnet_opt.onnx_export import export_onnx

    where = tmp_path_factory.mktemp("bundle")
    export_onnx(load_model(random_weights), where / "source.onnx")
    return bundle_of("onnx", where / "source.onnx", where / "v")


def test_a_bundle_reads_what_the_project_reads_and_carries_its_code_unchanged(onnx_bundle, plate_folder):
    folder, record = onnx_bundle
    paths = list_images(plate_folder)
    done = subprocess.run([sys.executable, str(folder / "predict.py"), *map(str, paths)], capture_output=True, text=True,
                          cwd=folder.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = greedy_decode(load_runner("onnx_runtime", folder / "model/source.onnx", 1)(load_plates(paths).images))
    assert [line.split("\t") for line in done.stdout.splitlines()] == [[str(p), e] for p, e in zip(paths, expected)]
    source = (folder / "predict.py").read_text()
    for function in (read_image, greedy_decode):  # copied, not rewritten
        assert inspect.getsource(function) in source
    assert not any(line.startswith(("import torch", "from lprnet_opt", "import lprnet_opt")) for line in source.splitlines())
    assert record["requirements"]["onnxruntime"] and not record["needs_torch"] and not record["vendored_modules"]
    assert "onnxruntime==" in (folder / "requirements.txt").read_text()
    assert record["requirements_installed_bytes"] > record["artifact_bytes"] > 0
    assert json.loads((folder / "bundle.json").read_text()) == record


def test_a_bundle_names_an_unreadable_image_in_one_line(onnx_bundle, tmp_path):
    folder, _ = onnx_bundle
    bad = tmp_path / "AB12345.jpg"
    bad.write_bytes(b"not an image")
    done = subprocess.run([sys.executable, str(folder / "predict.py"), str(bad)], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.strip() == f"error: {bad}: unreadable or corrupt image"


def test_a_state_dict_bundle_carries_the_modules_that_rebuild_lprnet(random_weights, tmp_path, plate_folder):
    folder, record = bundle_of("baseline", random_weights, tmp_path / "b")
    assert record["needs_torch"] and "model/lprnet_opt/checkpoint.py" in record["vendored_modules"]
    # The bundle's own copy of the package is what predict.py imports, even where the project is installed.
    image = list_images(plate_folder)[0]
    code = (f"import runpy; bundle = runpy.run_path({str(folder / 'predict.py')!r}); "
            "import lprnet_opt.checkpoint as c; print(c.__file__); "
            f"print(bundle['load']().predict([{str(image)!r}])[0])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    module_file, plate = done.stdout.splitlines()[-2:]
    assert Path(module_file) == folder / "model/lprnet_opt/checkpoint.py"
    assert plate == greedy_decode(load_runner("eager", random_weights, 1)(read_image(image)[None]))[0]
