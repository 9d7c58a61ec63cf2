"""bf16 variants: the precision recorded is the one the runtime read back, the check against the
fp32 source marks a failing build unfit, and a bf16 bundle reads what the workflow's runtime read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from lprnet_opt.checkpoint import load_model
from lprnet_opt.compress.int8_guard import Judge
from lprnet_opt.compress.precision_guard import check_precision
from lprnet_opt.data import list_images, load_folder
from lprnet_opt.deploy.bundle import build_bundle
from lprnet_opt.isa import bf16_capability, cpu_flags
from lprnet_opt.measure.accuracy import measure_variant, predict_reference
from lprnet_opt.onnx_export import export_onnx
from lprnet_opt.runtimes import load_runner, precision_of

# The shipped synthetic baseline reads generated plates, so plates carry information here.
SHIPPED = REPO / "data" / "baseline_synthetic.pth"
HAS_BF16 = bf16_capability(onednn=True) != "none"


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bf16") / "baseline.onnx"
    export_onnx(load_model(SHIPPED), path)
    return path


def test_openvino_records_the_precision_its_compiled_model_reads_back(onnx_model, plate_folder):
    images = load_folder(plate_folder).images
    f32, bf16 = (load_runner("openvino_runtime", onnx_model, 1, p) for p in ("f32", "bf16"))
    read_f32, read_bf16 = precision_of(f32), precision_of(bf16)
    assert read_f32["requested"] == "f32" and read_f32["ran"] == "f32" and read_f32["inference_precision"] == "f32"
    assert sum(read_f32["conv_precisions"].values()) == 16  # the dense LPRNet's convs, folded
    assert read_bf16["requested"] == "bf16"
    if not HAS_BF16:
        pytest.skip(f"this CPU has no bf16 compute ({bf16_capability()}); the emulation test covers it")
    # Where the CPU has bf16 compute the two compiled models differ, in what they say and in what they compute.
    assert read_bf16["ran"] == "bf16" and read_bf16["inference_precision"] == "bf16"
    assert all("bf16" in kernel for kernel in read_bf16["conv_kernels"])
    assert not any("bf16" in kernel for kernel in read_f32["conv_kernels"])
    assert np.abs(f32(images) - bf16(images)).max() > 1e-3


@pytest.mark.skipif(not {"avx512f", "avx512bw", "avx512vl"} <= cpu_flags(), reason="needs an AVX-512 CPU to cap")
def test_without_bf16_instructions_openvino_emulates_bf16_and_the_record_says_so(onnx_model, plate_folder, tmp_path):
    """With oneDNN capped below avx512_core_bf16, OpenVINO still deems bf16 supported (it asks only
    for AVX-512) and runs it emulated: the read-back says bf16 with non-brgconv kernels, and the
    check records the emulation. (A CPU without AVX-512 keeps f32 under the hint, by OpenVINO's
    rule; no such CPU was available to test.)"""
    code = f"""
import json
from lprnet_opt.compress.precision_guard import check_precision
from lprnet_opt.compress.int8_guard import Judge
from lprnet_opt.data import load_folder
plates = load_folder({str(plate_folder)!r})
record = check_precision("openvino_runtime", {str(onnx_model)!r}, "bf16", {str(SHIPPED)!r},
                         Judge(plates.images, plates.labels, "test"), 1, 0.0)
print(json.dumps(record))
"""
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX512_CORE_VNNI"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert record["bf16_capability"] == "none"
    assert record["precision"]["ran"] == "bf16"
    assert not any(kernel.startswith("brgconv") for kernel in record["precision"]["conv_kernels"])
    assert "emulated" in record["precision_note"]


def test_a_bf16_variant_is_checked_measured_and_bundled_with_the_precision_read_back(onnx_model, plate_folder,
                                                                                      tmp_path):
    plates = load_folder(plate_folder)
    judge = Judge(plates.images, plates.labels, "generated plates")
    check = check_precision("openvino_runtime", str(onnx_model), "bf16", str(SHIPPED), judge, 1, min_agreement=0.5)
    assert check["fit"] and check["guard"]["agreement"] >= 0.5 and check["guard"]["images"] == len(plates.labels)
    reference = predict_reference(SHIPPED, plates.images, 1)
    record = measure_variant("openvino_bf16", "openvino", onnx_model, reference, SHIPPED, reference, plates.images,
                             plates.labels, 1, build=check, source="baseline", precision="bf16")
    compiled = precision_of(load_runner("openvino_runtime", onnx_model, 1, "bf16"))
    assert record.precision == compiled == check["precision"]
    assert record.runtime_settings["INFERENCE_PRECISION_HINT"] == "bf16" and record.fit

    where = tmp_path / "bundle"
    bundle = build_bundle("openvino_bf16", "openvino", onnx_model, 1, where / "model", where / "predict.py",
                          where / "requirements.txt", where / "bundle.json", precision="bf16")
    assert bundle["precision"] == "bf16"
    paths = list_images(plate_folder)
    code = (f"import json, runpy; bundle = runpy.run_path({str(where / 'predict.py')!r}); reader = bundle['load'](1); "
            f"print(json.dumps([reader.precision, reader.predict({[str(p) for p in paths]!r})]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    bundle_precision, bundle_plates = json.loads(done.stdout.strip().splitlines()[-1])
    assert bundle_precision == record.precision
    assert bundle_plates == record.plates


def test_a_bf16_variant_below_the_bound_or_over_its_budget_is_unfit(onnx_model, plate_folder):
    plates = load_folder(plate_folder)
    judge = Judge(plates.images, plates.labels, "generated plates")
    # Labels no model reads: every plate is wrong for source and variant alike, so only the bound can fail.
    strict = check_precision("openvino_runtime", str(onnx_model), "bf16", str(SHIPPED), judge, 1, min_agreement=1.01)
    assert not strict["fit"] and "below the bound 1.01" in strict["guard"]["unfit_reason"]
    # With those labels the drop is exactly 0: a budget of 0 holds it, a budget of -1 pt does not.
    within = check_precision("openvino_runtime", str(onnx_model), "bf16", str(SHIPPED), judge, 1, 0.0, max_drop=0.0)
    assert within["guard"]["drop_pt"] == 0 and within["fit"] and within["goal_met"]
    over = check_precision("openvino_runtime", str(onnx_model), "bf16", str(SHIPPED), judge, 1, 0.0, max_drop=-1.0)
    assert not over["fit"] and not over["goal_met"]
    assert "estimated drop 0.00 pt over the budget of -1 pt" in over["guard"]["unfit_reason"]


def test_inductor_bf16_computes_in_bfloat16_and_freezes_only_its_own_compile(random_weights, images):
    import torch

    run = load_runner("inductor", random_weights, 1, "bf16")
    read = precision_of(run)
    assert read["ran"] == "bf16" and read["weight_dtypes"] == ["bfloat16"] and read["freezing"]
    assert not torch._inductor.config.freezing  # a patch of that compile, not the process's setting
    exact = load_runner("inductor", random_weights, 1, "f32")
    assert not precision_of(exact)["freezing"]
    out, reference = run(images[:4]), exact(images[:4])
    assert out.dtype == np.float32 and out.shape == (4, 68, 18)
    # bf16 arithmetic (8 mantissa bits): far off fp32 compared with fp32 rounding, yet the same logits.
    difference = float(np.abs(out - reference).max())
    assert 1e-3 * np.abs(reference).max() < difference < 0.1 * np.abs(reference).max()
