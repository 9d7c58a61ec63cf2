"""INT8 numerics by CPU class, and the guard on the shipped artifact, with real builds.

oneDNN (PyTorch's qconv, OpenVINO) reads ONEDNN_MAX_CPU_ISA at first use, so a child process
with it set to AVX2 runs the kernels an AVX2-only CPU runs, whatever CPU this is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import own_judge

from lprnet_opt.checkpoint import load_model
from lprnet_opt.compress.int8_guard import GuardSettings, judge_of
from lprnet_opt.isa import NOTE_KEY, has_vnni, isa_class

REPO = Path(__file__).resolve().parents[1]
ZEN3 = {"avx", "avx2", "fma"}  # an AVX2-only AMD EPYC's relevant flags
ZEN4 = ZEN3 | {"avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16"}
SAPPHIRE = ZEN4 | {"amx_tile", "amx_int8", "avx_vnni"}


def test_cpu_class_from_flags_and_the_onednn_cap():
    assert isa_class(flags=ZEN3, cap="") == "avx2" and not has_vnni("avx2")
    assert isa_class(flags=ZEN4, cap="") == "avx512_vnni" and has_vnni("avx512_vnni")
    assert isa_class(flags=SAPPHIRE, cap="") == "amx"
    assert isa_class(flags=ZEN3 | {"avx_vnni"}, cap="") == "avx2_vnni"
    # The cap lowers what oneDNN runtimes use, never what the hardware lacks.
    assert isa_class(flags=ZEN4, cap="AVX2") == "avx2"
    assert isa_class(flags=ZEN4, cap="avx512_core") == "avx512"
    assert isa_class(flags=ZEN3, cap="AVX512_CORE_VNNI") == "avx2"
    # ONNX Runtime (MLAS) ignores it.
    assert isa_class(onednn=False, flags=ZEN4, cap="AVX2") == "avx512_vnni"


def run_child(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **env}, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_guard_catches_saturated_pt2e_on_avx2_kernels_and_reduce_range_fixes_it(real_weights, real_images, tmp_path):
    """Full-range numerics (chosen for a VNNI target) run on AVX2 kernels saturate on the real
    checkpoint (0.66 against 0.96 on 186 images): the guard fails that attempt, and its
    reduce-range fallback passes. 48 images, so the bound is 0.9 (the rebuild read 45 of them alike)."""
    code = f"""
import json, torch
from lprnet_opt.checkpoint import load_model
from lprnet_opt.data import load_plates, list_images
from lprnet_opt.compress.int8_guard import GuardSettings, judge_of
from lprnet_opt.compress.quantize import build_quantized
torch.set_num_threads(2)
calibration = load_plates(list_images({str(real_images)!r})[:48])
images = calibration.images
info = build_quantized(lambda: load_model({str(real_weights)!r}), images, judge_of(calibration), 0, 8, 2, "q.pt2",
                       GuardSettings(0.9, 0), target_isa="avx512_vnni")
json.dump(info, open("info.json", "w"))
"""
    run_child(code, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, tmp_path)
    info = json.loads((tmp_path / "info.json").read_text())
    first, second = info["guard"]["attempts"]
    assert not first["reduce_range"] and not first["passed"] and first["agreement"] < 0.8, first
    assert second["reduce_range"] and second["passed"], second
    assert info["fit"] and info["numerics"]["reduce_range"] and info["calibration_agreement"] == second["agreement"]


def test_pt2e_chooses_reduce_range_on_a_cpu_without_vnni(random_weights, tmp_path):
    code = """
import json, numpy as np
from lprnet_opt.checkpoint import load_model
from lprnet_opt.compress.int8_guard import GuardSettings, Judge
from lprnet_opt.compress.quantize import build_quantized
images = np.random.default_rng(1).uniform(-1, 1, (8, 3, 24, 94)).astype(np.float32)
judge = Judge(images, ["A"] * len(images), "random images")  # no plate: only the numerics matter here
info = build_quantized(lambda: load_model(%r), images, judge, 0, 4, 1, "q.pt2", GuardSettings(0.0, 0))
json.dump(info, open("info.json", "w"))
""" % str(random_weights)
    run_child(code, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, tmp_path)
    info = json.loads((tmp_path / "info.json").read_text())
    assert info["numerics"]["isa"] == "avx2" and info["numerics"]["reduce_range"]
    assert [a["reduce_range"] for a in info["guard"]["attempts"]] == [True]


def test_an_onnx_int8_build_no_attempt_passes_is_kept_unfit_and_never_recommended(random_weights, plate_folder, tmp_path):
    """A real build whose every attempt misses the bound (1.01 cannot be reached): all fallbacks
    run, the best attempt ships marked unfit, measure carries that to the eval record, and the
    report's recommendation skips it."""
    from lprnet_opt.data import load_folder
    from lprnet_opt.atomic import write_json
    from lprnet_opt.measure.accuracy import measure_variant, predict_reference
    from lprnet_opt.measure.plates import judge_reading
    from lprnet_opt.compress.onnx_quantize import build_onnx_int8
    from lprnet_opt.report.goal import Goal, judge_drops, recommendations
    from lprnet_opt.report.results import load_results
    from lprnet_opt.record import write_record
    from lprnet_opt.runtimes import load_runner
    from lprnet_opt.measure.side_by_side import timing_record

    from conftest import quick_timing

    plates = load_folder(plate_folder)
    path = tmp_path / "int8.onnx"
    info = build_onnx_int8(load_model(random_weights), plates.images[:12], judge_of(plates), 0, 6, 1, path,
                           GuardSettings(min_agreement=1.01, max_extra_fp32_layers=2), timing_runs=10)
    steps = [a["step"] for a in info["guard"]["attempts"]]
    rr_first = info["guard"]["attempts"][0]["reduce_range"]
    assert steps == ["chosen numerics", *([] if rr_first else ["reduce range"]),
                     "1 more fp32 layer(s)", "2 more fp32 layer(s)"]
    assert not info["fit"] and "below the bound 1.01" in info["guard"]["unfit_reason"]
    best = max(a["agreement"] for a in info["guard"]["attempts"])
    assert info["calibration_agreement"] == best
    assert len(info["guard"]["attempts"][-1]["fp32_layers"]) == 2 and info["sensitivity"]  # the scan ran for it
    load_runner("onnx_runtime", path, 1)(plates.images[:1])  # what ships runs

    evals = tmp_path / "eval"
    for variant, kind, artifact, reference, build in [("baseline", "baseline", random_weights, None, {}),
                                                      ("onnx_int8", "onnx_int8", path, random_weights, info)]:
        predicted = None if reference is None else predict_reference(reference, plates.images, threads=1)
        record = measure_variant(variant, kind, artifact, predicted, random_weights, predicted, plates.images,
                                 plates.labels, threads=1, build=build, source=None if reference is None else "baseline")
        write_record(record, evals / f"{variant}.json")
        runner = load_runner("eager" if reference is None else "onnx_runtime", artifact, 1)
        write_json(judge_reading(variant, runner, plates.images, plates.labels, "test plates", record.fit),
                   tmp_path / "judge" / f"{variant}.json")
    assert not record.fit and record.unfit_reason == info["guard"]["unfit_reason"]
    np.save(tmp_path / "sample.npy", plates.images[:1])
    artifacts = {"baseline": ("eager", str(random_weights)), "onnx_int8": ("onnx_runtime", str(path))}
    timing = timing_record(artifacts, tmp_path / "sample.npy", quick_timing(), "baseline", None)
    judged = judge_drops(sorted((tmp_path / "judge").glob("*.json")))
    frame = load_results(sorted(evals.glob("*.json")), timing, judged=judged)
    for entry in recommendations(frame, judged, timing, Goal(max_drop=100.0, margin=0.0)):
        assert entry["ship"]["variant"] == "baseline" and entry["smallest"]["variant"] == "baseline"


def test_an_int8_artifact_on_a_cpu_of_another_class_logs_one_line(random_weights, tmp_path):
    """The OpenVINO IR carries the class it was built for; loaded where oneDNN sees another
    class (the cap), the runtime says so in one line."""
    from lprnet_opt.onnx_export import export_onnx
    from lprnet_opt.compress.openvino_quantize import build_openvino_int8
    from lprnet_opt.rewrites import fp32_graph

    export_onnx(fp32_graph(load_model(random_weights)), tmp_path / "fp32.onnx")
    images = np.random.default_rng(1).uniform(-1, 1, (8, 3, 24, 94)).astype(np.float32)
    build_openvino_int8(tmp_path / "fp32.onnx", images, own_judge(images, random_weights), 1, tmp_path / "m.xml",
                        GuardSettings(0.0, 0), 4)
    import openvino

    built_for = json.loads(openvino.Core().read_model(str(tmp_path / "m.xml")).get_rt_info(NOTE_KEY).astype(str))["isa"]
    assert built_for == isa_class(onednn=True)
    other = "SSE41" if built_for == "avx2" else "AVX2"
    code = ("import logging, numpy as np; logging.basicConfig()\n"
            "from lprnet_opt.runtimes import load_runner\n"
            "load_runner('openvino_runtime', 'm.xml', 1)(np.zeros((1, 3, 24, 94), np.float32))\n")
    lines = [line for line in run_child(code, {"ONEDNN_MAX_CPU_ISA": other}, tmp_path).stderr.splitlines()
             if "INT8 built for CPU class" in line]
    assert len(lines) == 1 and f"built for CPU class {built_for}, running on" in lines[0], lines
    same = run_child(code, {"ONEDNN_MAX_CPU_ISA": ""}, tmp_path).stderr
    assert "INT8 built for CPU class" not in same
