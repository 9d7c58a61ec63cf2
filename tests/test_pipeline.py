"""The whole workflow on a tiny config in a temporary directory, and what reruns when."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
import yaml

from conftest import REPO, drawn_marks, render_offline
from lprnet_opt.record import read_record
from lprnet_opt.tvm_setup import graph_key

FULL_GRAPH = graph_key(68)

pytestmark = pytest.mark.slow

TINY = {
    "baseline_weights": "weights.pth",
    "images": "synthetic",
    "synthetic": {
        "calibration": {"count": 16, "seed": 201},
        "evaluation": {"count": 24, "seed": 202},
        "distill": {"count": 16, "seed": 301},
    },
    "timing": {"warmup": 2, "process_sets": 2, "rounds": 2, "block_ms": 5, "e2e_block_ms": 5, "throughput_batch": 4,
               # tests share the machine: a disturbed round is not what they check
               "foreign_load_limit": 2.0, "max_retimed_rounds": 0},
    # A random LPRNet's INT8 plates are noise against fp32: no guard bound here
    # (tests/test_int8_guard.py tests the guard with the real checkpoint).
    "quantization": {"max_fp32_layers": 1, "scan_images": 8, "min_agreement": 0.0},
    "distillation": {"epochs": 1, "batch_size": 16},
    # One trial per task: the least that gives every task a record, so the report's tuning curve exists.
    # The full graph's tasks replay one shipped seed trace each instead (data/tvm_seed).
    "tvm": {"trials": 33, "min_trials_per_task": 1, "shards": 2, "population": 16, "seed_traces": 1},
    "variants": {
        "baseline": {"kind": "baseline"},
        "quantized": {"kind": "quantized"},
        "pruned": {"kind": "pruned", "ratio": 0.5},
        # Under a budget, as in the default config (the other two PT2E builds run the scan).
        "pruned_quantized": {"kind": "quantized", "source": "pruned", "max_drop": 1.0},
        # Each INT8 kind from the pruned source; the baseline source is the same rule. One under
        # an accuracy budget (a random source reads no plate, so no attempt can lose one).
        "pruned_onnx_int8": {"kind": "onnx_int8", "source": "pruned", "max_drop": 1.0},
        "pruned_openvino_int8": {"kind": "openvino_int8", "source": "pruned"},
        "mlc": {"kind": "tvm"},
        "pruned_mlc": {"kind": "tvm", "source": "pruned"},
        # A slimmer LPRNet, in eager, INT8, TVM (its own tuning graph) and ONNX Runtime.
        "channel_pruned": {"kind": "channel_pruned", "macs_ratio": 0.4},
        "channel_pruned_quantized": {"kind": "quantized", "source": "channel_pruned"},
        "channel_pruned_mlc": {"kind": "tvm", "source": "channel_pruned"},
        "channel_pruned_onnx": {"kind": "onnx", "source": "channel_pruned"},
        "onnxruntime": {"kind": "onnx"},
        "openvino": {"kind": "openvino"},
        "openvino_bf16": {"kind": "openvino", "precision": "bf16"},
        "torch_compile": {"kind": "torch_compile"},
    },
}


def snakemake(workdir: Path, *args: str, config: dict | None = None) -> subprocess.CompletedProcess:
    """Run the workflow; `config` goes in an overlay config file, deep-merged over tiny.yaml."""
    files = [str(workdir / "tiny.yaml")]
    if config:
        (workdir / "overlay.yaml").write_text(yaml.safe_dump(config))
        files.append(str(workdir / "overlay.yaml"))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", *files, "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Job counts from the dry-run's 'Job stats' table."""
    table = result.stdout.split("Job stats:")[-1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] != "total"}


@pytest.fixture(scope="module")
def workflow(tmp_path_factory, random_weights_module) -> Path:
    workdir = tmp_path_factory.mktemp("flow")
    shutil.copy(random_weights_module, workdir / "weights.pth")
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    result = snakemake(workdir, "report")
    (workdir / "snakemake.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


@pytest.fixture(scope="module")
def random_weights_module(tmp_path_factory) -> Path:
    from lprnet_opt.model import LPRNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "weights.pth"
    torch.save(LPRNet().state_dict(), path)
    return path


def test_every_variant_has_a_complete_eval_record(workflow):
    records = {v: read_record(workflow / f"results/eval/{v}.json") for v in TINY["variants"]}  # checks every field
    for variant, record in records.items():
        assert record.n_images == 24 and 0 <= record.accuracy <= 1, variant
    assert records["baseline"].agreement == 1.0 and records["baseline"].reference is None
    mlc = records["mlc"]
    assert mlc.agreement_with_source >= 0.999 or mlc.max_abs_logit_diff_vs_source < 1e-3
    # Each variant is compared with the fp32 weights it was built from, the pruned one with the dense.
    assert records["pruned"].reference == "weights.pth"
    assert records["pruned_mlc"].reference == records["pruned_quantized"].reference == "results/prune/pruned.pt"
    assert records["pruned"].sparsity == records["pruned_mlc"].sparsity > 0.45
    assert records["pruned"].macs_removed == 0  # unstructured pruning computes every MAC still


def test_every_form_of_the_slim_model_reads_the_plates_its_eager_form_reads(workflow):
    """ONNX Runtime and TVM run the channel-pruned LPRNet to the same plates as eager PyTorch;
    INT8 is close to it; all of them compute the slimmer model's MACs."""
    records = {v: read_record(workflow / f"results/eval/{v}.json") for v in TINY["variants"] if "channel" in v}
    slim = records["channel_pruned"]
    assert 0.4 <= slim.macs_removed < 0.5 and slim.reference == "weights.pth"
    build = json.loads((workflow / "results/channel_prune/channel_pruned.json").read_text())
    assert build["macs"] == slim.macs and build["criterion"] in build["criteria"]
    for variant in ("channel_pruned_mlc", "channel_pruned_onnx"):
        assert records[variant].reference == "results/channel_prune/channel_pruned.pt", variant
        assert records[variant].agreement_with_source == 1.0, variant
        assert records[variant].max_abs_logit_diff_vs_source < 1e-3, variant
    quantized = records["channel_pruned_quantized"]
    assert quantized.macs == slim.macs and quantized.agreement_with_source >= 0.5
    info = json.loads((workflow / "results/quantize/channel_pruned_quantized.json").read_text())
    assert info["inductor_qconv_lowerings"]["qconv_unary_lower_count"] >= 10  # the slim graph runs INT8 convs
    tasks = json.loads((workflow / "results/tvm/tune/host/slim_channel_pruned/tasks.json").read_text())
    assert tasks["widths"] == build["widths"] != json.loads(
        (workflow / "results/tvm/tune/host" / FULL_GRAPH / "tasks.json").read_text())["widths"]
    assert tasks["graph"].endswith(build["widths"])


def test_every_variant_is_timed_side_by_side(workflow):
    timing = json.loads((workflow / "results/timing.json").read_text())
    assert set(timing["variants"]) == set(TINY["variants"]) and timing["rounds"] == 2
    assert timing["variants"]["baseline"]["ratio_to_eager"] == 1.0
    assert timing["variants"]["onnxruntime"]["ratio_to_onnxruntime"] == 1.0


def test_report_and_summary_exist(workflow):
    html = (workflow / "results/report.html").read_text()
    assert "vegaEmbed" in html and "https://cdn" not in html
    summary = (workflow / "results/summary.csv").read_text()
    assert all(v in summary for v in TINY["variants"])
    # What ran, read back from each artifact: INT8 for the INT8 builds, f32 for the float ones.
    ran = {row["variant"]: row["precision_ran"] for row in csv.DictReader(summary.splitlines())}
    for variant in ("quantized", "pruned_onnx_int8", "pruned_openvino_int8"):
        assert ran[variant].startswith("int8"), (variant, ran[variant])
    assert ran["baseline"] == ran["mlc"] == "f32"
    assert (workflow / "results/charts/accuracy_latency.png").stat().st_size > 1000


def test_report_says_where_each_databases_schedules_came_from(workflow):
    """The full graph replays the shipped seed's traces here; the channel-pruned graph has other
    shapes and no seed of its own, so it replays the full graph's traces fitted to its shapes."""
    summary = (workflow / "results/summary.md").read_text()
    full = next(line for line in summary.splitlines() if f"TVM schedules, target host, {FULL_GRAPH}:" in line)
    assert re.search(r"(\d+) seed traces replayed here", full) and " 0 seed traces" not in full, full
    assert "seed " in full and "trials for" in full  # the seed's provenance
    slim = next(line for line in summary.splitlines() if "TVM schedules, target host, slim_" in line)
    fitted = re.search(r"(\d+) seed traces replayed here \((\d+) of them fitted from other shapes\)", slim)
    assert fitted and int(fitted.group(2)) > 0, slim
    assert "seed " in slim and "trials for" in slim  # the full graph's seed, named


def test_report_draws_intervals_tuning_curve_scan_and_recommendation_offline(workflow, tmp_path):
    dom, charts = render_offline(workflow / "results/report.html", tmp_path)
    assert {"accuracy", "accuracy_latency", "speedup", "sparsity", "tuning", "sensitivity",
            "int8_search"} <= set(charts), set(charts)
    # The budgeted INT8 variant: its budget and estimate in the table, its attempt on the chart.
    row = next(r for r in dom.split("<tr>") if "pruned_onnx_int8" in r and "budget 1 pt" in r)
    assert re.search(r"estimated -?\d+\.\d\d pt \[.*\] at 0 fp32 convs", row), row
    assert drawn_marks(charts["int8_search"]).get("point", 0) >= 2  # the attempt and the measured drop
    # A 95% interval bar per variant, drawn as a rule, plus the baseline's dashed line.
    assert drawn_marks(charts["accuracy"]).get("rule", 0) >= len(TINY["variants"]) + 1
    assert drawn_marks(charts["tuning"]).get("line", 0) >= 1 and drawn_marks(charts["tuning"]).get("rule", 0) >= 2
    assert drawn_marks(charts["sensitivity"]).get("bar", 0) >= 2  # scanned layers of each INT8 variant
    table = dom.split('id="recommendation"')[1].split("</table>")[0]
    assert table.count("<tr>") == 4 and "results/" in table  # a header and one row per constraint


def test_every_recommendation_snippet_runs_and_matches_the_runtime(workflow):
    """The three lines the report shows for each kind run on their own, in a fresh interpreter,
    and give the logits this project's runtime gives for the same input."""
    import numpy as np

    from lprnet_opt.geometry import BATCH1_SHAPE
    from lprnet_opt.kinds import KINDS, artifact_of, snippet_of, with_sources
    from lprnet_opt.runtimes import load_runner

    variants = with_sources(TINY["variants"])
    seen = {}
    for variant, spec in variants.items():
        seen.setdefault(spec["kind"], artifact_of(variant, variants, TINY["baseline_weights"]))
    assert set(seen) == set(KINDS)
    for kind, artifact in seen.items():
        code = snippet_of(kind, artifact) + "\nimport numpy as np; np.save('snippet.npy', np.asarray(logits))"
        done = subprocess.run([sys.executable, "-c", code], cwd=workflow, capture_output=True, text=True)
        assert done.returncode == 0, f"{kind}: {done.stderr[-2000:]}"
        expected = load_runner(KINDS[kind].runtime, workflow / artifact, 1)(np.zeros(BATCH1_SHAPE, np.float32))
        np.testing.assert_allclose(np.load(workflow / "snippet.npy"), expected, atol=1e-3, err_msg=kind)


def test_no_log_of_the_run_mentions_a_deprecation(workflow):
    """Neither torch quantization, TorchScript, the ONNX exporter nor anything else the run
    calls warns that it is deprecated: not in any rule's log, nor in Snakemake's own output."""
    logs = [workflow / "snakemake.log", *sorted((workflow / "logs").rglob("*.log"))]
    assert len(logs) > 20
    flagged = {str(p.relative_to(workflow)): [line for line in p.read_text(errors="replace").splitlines()
                                              if "deprecat" in line.lower()] for p in logs}
    assert not any(flagged.values()), {k: v[:3] for k, v in flagged.items() if v}


def test_int8_builds_calibrate_on_calibration_images_only(workflow):
    split = json.loads((workflow / "results/data/split.json").read_text())
    assert len(split["calibration"]) == 16 and len(split["evaluation"]) == 24
    builds = {"pruned_quantized": "quantize", "pruned_onnx_int8": "onnx_int8", "pruned_openvino_int8": "openvino_int8"}
    for variant, stage in builds.items():
        info = json.loads((workflow / f"results/{stage}/{variant}.json").read_text())
        assert info["calibration_images"] == 16, variant
    onnx_info = json.loads((workflow / "results/onnx_int8/pruned_onnx_int8.json").read_text())
    assert onnx_info["calibration_method"] in {r["method"] for r in onnx_info["calibration_methods"]}
    openvino = read_record(workflow / "results/eval/pruned_openvino_int8.json")
    assert openvino.runtime_settings["INFERENCE_PRECISION_HINT"] == "f32"
    assert openvino.size_bytes > (workflow / "results/openvino_int8/pruned_openvino_int8.bin").stat().st_size


@pytest.mark.parametrize("bad", ["empty", "corrupt"])
def test_bad_calibration_folder_is_one_line_naming_it(tmp_path, bad):
    folder = tmp_path / "calibration"
    folder.mkdir()
    if bad == "corrupt":
        (folder / "京A12345.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "weights.pth").write_bytes(b"")
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump({**TINY, "calibration_images": str(folder)}))
    result = snakemake(tmp_path, "results/data/split.json")
    assert result.returncode != 0
    errors = [line for line in (tmp_path / "logs/split/split.log").read_text().splitlines() if "Error" in line]
    assert len(errors) == 1 and str(folder) in errors[0], errors
    assert not (tmp_path / "results/data/split.json").exists()


def test_split_is_disjoint(workflow):
    split = json.loads((workflow / "results/data/split.json").read_text())
    assert split["calibration"] and split["evaluation"]
    assert not set(map(os.path.basename, split["calibration"])) & set(map(os.path.basename, split["evaluation"]))


def test_second_run_has_nothing_to_do(workflow):
    result = snakemake(workflow, "-n", "report")
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr


def test_pruning_ratio_change_reruns_only_pruned_branch(workflow):
    jobs = planned_jobs(snakemake(workflow, "-n", "report", config={"variants": {"pruned": {"kind": "pruned", "ratio": 0.6}}}))
    assert jobs.pop("prune") == 1 and jobs.pop("tvm_compile") == 1  # pruned_mlc only
    assert jobs.pop("quantize") == 1  # pruned_quantized only
    assert jobs.pop("onnx_int8") == jobs.pop("openvino_int8") == 1  # the pruned INT8 builds
    assert jobs.pop("onnx_export") == 1  # results/onnx/pruned.onnx, which openvino_int8 quantizes
    assert jobs.pop("measure") == jobs.pop("judge") == jobs.pop("deploy") == 5  # pruned and the four variants built from it
    assert jobs.pop("reference") == 1  # the new weights' plates, which those four are compared with
    assert jobs.pop("timing") == 1  # every variant again: ratios come from one run
    assert set(jobs) <= {"bundle_readmes", "summarize", "report"}, jobs  # no tuning, no other variant


def test_macs_ratio_change_reruns_only_the_channel_pruned_branch_and_its_graph(workflow):
    result = snakemake(workflow, "-n", "report",
                       config={"variants": {"channel_pruned": {"kind": "channel_pruned", "macs_ratio": 0.3}}})
    jobs = planned_jobs(result)
    assert jobs.pop("channel_prune") == 1 and jobs.pop("quantize") == 1 and jobs.pop("onnx_export") == 1
    # Its own graph's tasks are extracted again from the new widths and tuned; the full graph is not.
    assert jobs.pop("tvm_tasks") == 1 and jobs.pop("tvm_tune_shard") == 2 and jobs.pop("tvm_merge") == 1
    assert jobs.pop("tvm_compile") == 1  # channel_pruned_mlc only
    assert jobs.pop("measure") == jobs.pop("judge") == jobs.pop("deploy") == 4 and jobs.pop("timing") == 1
    assert jobs.pop("reference") == 1  # the slim model's plates
    assert set(jobs) <= {"bundle_readmes", "summarize", "report"}, jobs
    tuned = re.findall(r"output: results/tvm/tune/host/(\w+)/shard", result.stdout)
    assert tuned and set(tuned) == {"slim_channel_pruned"}, tuned


def test_raising_trials_reruns_only_tuning_and_downstream(workflow):
    jobs = planned_jobs(snakemake(workflow, "-n", "report", config={"tvm": {"trials": 40}}))
    # Both graphs (full and channel-pruned) get the raised budget each.
    assert jobs.pop("tvm_tune_shard") == 4 and jobs.pop("tvm_merge") == 2 and jobs.pop("tvm_compile") == 3
    assert jobs.pop("measure") == jobs.pop("judge") == jobs.pop("deploy") == 3 and jobs.pop("timing") == 1
    assert set(jobs) <= {"bundle_readmes", "summarize", "report"}, jobs


def test_new_baseline_weights_rerun_everything_downstream(workflow):
    jobs = planned_after_editing(workflow, workflow / "weights.pth")  # as if replaced
    assert jobs["measure"] == jobs["judge"] == len(TINY["variants"])
    assert jobs["prune"] == 1 and jobs["quantize"] == 3 and jobs["tvm_compile"] == 3
    # Tuning does not depend on weights: only the channel-pruned graph, whose widths do, is tuned again.
    assert jobs["channel_prune"] == 1 and jobs["tvm_tasks"] == 1 and jobs["tvm_tune_shard"] == 2
    assert jobs["reference"] == 3  # each fp32 source's plates: baseline, pruned, channel_pruned


def planned_after_editing(workflow: Path, path: Path) -> dict[str, int]:
    """The dry run's jobs after the file at `path` is edited; it is put back as it was after.

    A source file gets a new line: Snakemake keeps checksums of small inputs, so a new mtime
    alone (a touch) does not count as an edit. A large file (weights) is only touched.
    """
    before, content = path.stat(), path.read_bytes()
    try:
        if path.suffix == ".py":
            path.write_bytes(content + b"# edited\n")
        else:
            os.utime(path)
        return planned_jobs(snakemake(workflow, "-n", "report"))
    finally:
        path.write_bytes(content) if path.suffix == ".py" else None
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_editing_the_tvm_compiler_reruns_only_tvm_builds_and_their_evaluations(workflow):
    jobs = planned_after_editing(workflow, REPO / "src/lprnet_opt/tvm/compile.py")
    # The bundle READMEs quote timing.json, which is new: one job writes them all.
    assert jobs == {"tvm_compile": 3, "measure": 3, "judge": 3, "deploy": 3, "timing": 1, "bundle_readmes": 1,
                    "summarize": 1, "report": 1}, jobs


def test_editing_a_runtime_reruns_only_the_evaluations_that_load_it(workflow):
    jobs = planned_after_editing(workflow, REPO / "src/lprnet_opt/runtimes/onnx_runtime.py")
    # The ONNX Runtime variants and their bundles (predict.py carries the loader), and the ONNX
    # INT8 build, which times its candidates with it.
    assert jobs == {"measure": 3, "judge": 3, "deploy": 3, "onnx_int8": 1, "timing": 1, "bundle_readmes": 1,
                    "summarize": 1, "report": 1}, jobs


def test_snakemakes_own_report_holds_every_registered_output(workflow):
    """`snakemake --report` on the finished run: the recommendation page, summary.csv,
    timing.json and every chart (the tuning curve among them) with their captions."""
    import zipfile

    result = snakemake(workflow, "report", "--report", "results/workflow-report.zip")
    assert result.returncode == 0, result.stderr[-3000:]
    with zipfile.ZipFile(workflow / "results/workflow-report.zip") as bundle:
        names = bundle.namelist()
        page = next(bundle.read(n).decode() for n in names if n.endswith("report.html") and "/data/" not in n)
    stored = {Path(n).name for n in names if "/data/raw/" in n}  # each output under data/raw/<hash>/
    assert {"report.html", "summary.csv", "timing.json", "tuning.png", "accuracy.png"} <= stored, sorted(stored)
    for category in ("1. Recommendation", "2. Numbers", "3. Charts"):
        assert category in page


def fresh_venv(requirements: Path, where: Path) -> Path:
    """A new venv holding only `requirements` (pip's configured indexes and wheel folders)."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = where / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], capture_output=True,
                          text=True, env=env)
    assert done.returncode == 0, f"{requirements}: {done.stderr[-2000:]}"
    return python


def test_every_bundle_reads_the_evaluated_plates_in_a_venv_of_its_requirements_alone(workflow, tmp_path_factory):
    """Each variant's deploy bundle, its requirements.txt installed into a fresh venv, reads
    every evaluation image to the plate string its eval record holds; the ONNX Runtime,
    OpenVINO and TVM bundles run without torch and without this project."""
    split = json.loads((workflow / "results/data/split.json").read_text())
    images = [str(workflow / p) for p in split["evaluation"]]

    def requirements_of(variant: str) -> str:  # without the first line, which names the variant
        return (workflow / "results/deploy" / variant / "requirements.txt").read_text().split("\n", 1)[1]

    # One venv per distinct requirements, installed side by side (pip mostly waits on files).
    first = {requirements_of(v): v for v in reversed(list(TINY["variants"]))}
    with ThreadPoolExecutor(len(first)) as pool:
        made = {r: pool.submit(fresh_venv, workflow / "results/deploy" / v / "requirements.txt",
                               tmp_path_factory.mktemp("venv")) for r, v in first.items()}
        venvs = {r: future.result() for r, future in made.items()}
    kinds_seen = set()
    for variant in TINY["variants"]:
        bundle = workflow / "results/deploy" / variant
        info = json.loads((bundle / "bundle.json").read_text())
        python = venvs[requirements_of(variant)]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        done = subprocess.run([str(python), str(bundle / "predict.py"), *images], capture_output=True, text=True,
                              cwd=tmp_path_factory.mktemp("run"), env=env)
        assert done.returncode == 0, f"{variant}: {done.stderr[-2000:]}"
        read = [line.split("\t")[1] for line in done.stdout.splitlines()]
        assert read == read_record(workflow / f"results/eval/{variant}.json").plates, variant
        foreign = subprocess.run([str(python), "-c", "import torch"], capture_output=True, env=env, cwd=bundle.parent)
        assert (foreign.returncode == 0) == info["needs_torch"], variant
        if not info["needs_torch"]:
            assert subprocess.run([str(python), "-c", "import lprnet_opt"], capture_output=True, env=env,
                                  cwd=bundle.parent).returncode != 0, variant
        assert "## What must match on another machine" in (bundle / "README.md").read_text()
        kinds_seen.add(TINY["variants"][variant]["kind"])
    from lprnet_opt.kinds import KINDS

    assert kinds_seen == set(KINDS)
    assert len(venvs) == 4  # torch, ONNX Runtime, OpenVINO, TVM


def test_every_variant_is_timed_end_to_end_through_its_bundle(workflow):
    timing = json.loads((workflow / "results/timing.json").read_text())
    # A calibration plate: new evaluation images never retime.
    assert timing["e2e_image"] in json.loads((workflow / "results/data/calibration.json").read_text())["calibration"]
    for variant, entry in timing["variants"].items():
        assert entry["bundle"] == f"results/deploy/{variant}"
        assert len(entry["e2e_round_medians_ms"]) == 2 and entry["e2e_latency_ms"] > 0, variant
    page = (workflow / "results/report.html").read_text()
    assert "results/deploy/" in page.split('id="recommendation"')[1].split("</table>")[0]


def test_a_max_drop_budget_reruns_only_the_channel_pruned_branch(workflow):
    budget = {"variants": {"channel_pruned": {"kind": "channel_pruned", "macs_ratio": None, "max_drop": 1.0}}}
    jobs = planned_jobs(snakemake(workflow, "-n", "report", config=budget))
    assert jobs.pop("channel_prune") == 1 and jobs.pop("quantize") == 1 and jobs.pop("onnx_export") == 1
    assert jobs.pop("tvm_tasks") == 1 and jobs.pop("tvm_tune_shard") == 2 and jobs.pop("tvm_merge") == 1
    assert jobs.pop("tvm_compile") == 1
    assert jobs.pop("measure") == jobs.pop("judge") == jobs.pop("deploy") == 4 and jobs.pop("timing") == 1
    assert jobs.pop("reference") == 1
    assert set(jobs) <= {"bundle_readmes", "summarize", "report"}, jobs


def test_an_int8_budget_reruns_only_its_branch(workflow):
    budget = {"variants": {"pruned_onnx_int8": {"kind": "onnx_int8", "source": "pruned", "max_drop": 2.0}}}
    jobs = planned_jobs(snakemake(workflow, "-n", "report", config=budget))
    assert jobs.pop("onnx_int8") == jobs.pop("measure") == jobs.pop("judge") == jobs.pop("deploy") == 1
    assert jobs.pop("timing") == 1
    assert set(jobs) <= {"bundle_readmes", "summarize", "report"}, jobs


def test_the_budget_searches_read_no_evaluation_image(tmp_path, random_weights_module):
    """After the split is written, every evaluation image is overwritten with bytes no decoder
    reads (their times kept, so nothing upstream reruns): the searches and their builds still run."""
    shutil.copy(random_weights_module, tmp_path / "weights.pth")
    config = {**TINY, "variants": {"baseline": {"kind": "baseline"},
                                   "channel_pruned": {"kind": "channel_pruned", "max_drop": 50.0},
                                   "onnx_int8": {"kind": "onnx_int8", "max_drop": 50.0}}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    done = snakemake(tmp_path, "results/data/split.json")
    assert done.returncode == 0, done.stderr[-3000:]
    evaluation = [Path(p) for p in json.loads((tmp_path / "results/data/split.json").read_text())["evaluation"]]
    for path in (p if p.is_absolute() else tmp_path / p for p in evaluation):
        before = path.stat()
        path.write_bytes(b"not an image")
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    done = snakemake(tmp_path, "results/channel_prune/channel_pruned.json", "results/onnx_int8/onnx_int8.json")
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((tmp_path / "results/channel_prune/channel_pruned.json").read_text())
    assert info["search"]["judge_images"] == 16 + 16  # calibration split + generated plates (synthetic images)
    assert info["goal_met"] and info["macs_removed"] > 0
    info = json.loads((tmp_path / "results/onnx_int8/onnx_int8.json").read_text())
    assert info["search"]["judge_images"] == 16 + 16 and info["goal_met"]
    assert info["search"]["judged_on"] == "calibration split + generated plates"


AARCH64 = {"name": "pi", "arch": "aarch64", "cpu": "cortex-a76", "check_plates": 6}


def test_an_aarch64_target_gets_every_portable_bundle_checked_under_qemu_and_nothing_timed(workflow, tmp_path):
    """The target overlay builds only the target's rules; each bundle reads its plates in the
    arm64 userland as a Cortex-A76, the fp32 forms exactly as on the host; TVM's library is an
    aarch64 ELF; the report says nothing was timed; another CPU is another folder."""
    from lprnet_opt.targets import ARCHES, target_forms, target_key
    from lprnet_opt.cross.userland import UserlandError, check_ready, userland_dir
    from lprnet_opt.kinds import KINDS, with_sources

    try:  # CI sets it up (.ci/run); elsewhere: python -m lprnet_opt.cross.userland --arch aarch64
        check_ready(ARCHES["aarch64"], userland_dir(ARCHES["aarch64"], None))
    except UserlandError as missing:
        pytest.skip(str(missing))
    flow = tmp_path / "flow"
    shutil.copytree(workflow, flow, symlinks=True)
    forms = target_forms(with_sources(TINY["variants"]), AARCH64)
    built = list(forms)
    assert forms["openvino_f16"] == ("openvino", "f16")  # OpenVINO's own default on a Cortex-A76
    plan = planned_jobs(snakemake(flow, "-n", "report", config={"target": AARCH64}))
    assert plan.pop("target_bundle") == plan.pop("target_check") == len(built) >= 6
    assert set(plan) == {"target_summary", "summarize", "report"}, plan  # no host build reruns
    result = snakemake(flow, "report", config={"target": AARCH64})
    assert result.returncode == 0, result.stderr[-4000:]
    root = flow / "results/target" / target_key(AARCH64)
    summary = json.loads((root / "summary.json").read_text())
    assert summary["timed"] is False and sorted(row["variant"] for row in summary["checked"]) == sorted(built)
    assert set(summary["not_built"]) == set(TINY["variants"]) - set(built)
    f16 = json.loads((root / "openvino_f16/check.json").read_text())["precision"]
    assert f16["requested"] == "f16" and f16["inference_precision"] == "f16", f16  # read back on the target
    for variant in built:
        check = json.loads((root / variant / "check.json").read_text())
        assert check["emulated"] and check["qemu_cpu"] == "cortex-a76" and check["target"]["arch"] == "aarch64"
        assert check["evaluation_sample"]["images"] == check["judge_sample"]["images"] == 6
        assert "latency" not in json.dumps(check)
        host, precision = forms[variant]
        if KINDS[TINY["variants"][host]["kind"]].exact and precision == "f32":  # fp32 forms read the host's plates
            assert check["evaluation_sample"]["agreement_with_host"] == 1.0 and check["fit"], check
    library = (root / "mlc/model/model.so").read_bytes()
    assert library[:4] == b"\x7fELF" and int.from_bytes(library[18:20], "little") == 183  # EM_AARCH64
    assert "Nothing was timed for this target" in (flow / "results/report.html").read_text()
    assert "| latency | not timed: set target.device" in (root / "onnxruntime/README.md").read_text()
    other_cpu = planned_jobs(snakemake(flow, "-n", "report", config={"target": {**AARCH64, "cpu": "cortex-a72"}}))
    assert set(other_cpu) == {"target_bundle", "target_check", "target_summary", "summarize", "report"}, other_cpu


# A target of this machine's architecture on a device reached over SSH (tests: an sshd of its own
# on 127.0.0.1): nothing is emulated; every bundle is checked and timed there.
# Tuning there: 40 trials a graph, of which the shipped AVX2 seed's replays fill about 33.
X86_DEVICE = {"name": "box", "arch": "x86_64", "cpu": "x86-64-v3", "check_plates": 6, "tune_trials": 40}


def test_a_device_over_ssh_checks_and_times_every_bundle_there_and_the_goal_ships_from_its_timings(
        workflow, tmp_path, local_sshd):
    """With target.device, TVM is tuned there through its RPC server, each bundle is copied to the
    device, reads its plates there and is timed there side by side; the target's answer is the
    goal's choice from those timings; what the host's timing stage tells apart from ONNX Runtime
    fp32, the device does too."""
    from lprnet_opt.config import validate_config
    from lprnet_opt.kinds import with_sources, on_target
    from lprnet_opt.targets import target_forms, target_key

    flow = tmp_path / "flow"
    shutil.copytree(workflow, flow, symlinks=True)
    target = {**X86_DEVICE, "device": local_sshd}
    # More rounds than the tiny default, on both sides, so that each interval is one of six rounds.
    timing = {**TINY["timing"], "rounds": 6}
    variants = with_sources(TINY["variants"])
    forms = target_forms(variants, target)
    plan = planned_jobs(snakemake(flow, "-n", "report", config={"target": target, "timing": timing}))
    assert plan.pop("target_bundle") == plan.pop("target_check") == len(forms) >= 6
    tvm_forms = [v for v in forms if on_target(v, variants) == "tvm"]
    # Tuned on the device: the full graph (mlc, pruned_mlc) and channel_pruned's widths.
    assert plan.pop("target_tvm_tasks") == plan.pop("target_tune") == 2, plan
    assert set(plan) == {"target_timing", "target_summary", "timing", "bundle_readmes", "summarize", "report"}, plan
    result = snakemake(flow, "report", config={"target": target, "timing": timing})
    assert result.returncode == 0, result.stderr[-4000:]
    root = flow / "results/target" / target_key(target)
    # Each graph tuned on the device: the AVX2 seed's replays and the search's candidates timed
    # there (the channel-pruned graph's transferred replays may fill its whole budget).
    searched = 0
    for database in sorted((root / "tune").glob("*/database")):
        tuned = json.loads((database / "summary.json").read_text())
        assert tuned["timed_on"] == {"ssh": local_sshd["ssh"], "port": local_sshd["port"], "runner": "TVM RPC"}
        assert sum(t["records_after"] for t in tuned["tasks"]) >= target["tune_trials"], tuned
        assert "x86_64/avx2" in tuned["warm_start"], tuned["warm_start"]
        searched += sum(t["searched"] for t in tuned["tasks"])
    assert searched > 0
    for variant in tvm_forms:  # compiled with those schedules; its check below reads the host's plates
        bundle = json.loads((root / variant / "bundle.json").read_text())
        assert bundle["tuned_on_device"] and "tuned on the device" in (root / variant / "README.md").read_text()
    device_timing = json.loads((root / "timing.json").read_text())
    assert device_timing["emulated"] is False and device_timing["device"]["ssh"] == local_sshd["ssh"]
    assert set(device_timing["variants"]) == set(forms) and device_timing["rounds"] == 6
    assert str(local_sshd["workdir"]) in device_timing["device"]["workdir"]
    for variant in forms:
        check = json.loads((root / variant / "check.json").read_text())
        assert check["emulated"] is False and check["device"]["ssh"] == local_sshd["ssh"], check
        if check["exact"]:  # fp32 forms read the host's plates there
            assert check["evaluation_sample"]["agreement_with_host"] == 1.0 and check["fit"], check
    # The goal's rule, applied here to the checks and the device's ratios, ships the same bundle.
    summary = json.loads((root / "summary.json").read_text())
    goal = validate_config(TINY)["goal"]  # the run's own: tiny.yaml is its only config file
    checks = {v: json.loads((root / v / "check.json").read_text()) for v in forms}
    allowed = [v for v, c in checks.items() if c["fit"] and (
        c["exact"] or c["judge_sample"]["drop_vs_baseline"]["drop_pt"] + goal["margin"] <= goal["max_drop"])]
    fastest = min(allowed, key=lambda v: (device_timing["variants"][v]["ratio_to_onnxruntime"], v))
    assert summary["timed"] and summary["choice"]["variant"] == fastest
    readme = (root / fastest / "README.md").read_text()
    ratio = device_timing["variants"][fastest]["ratio_to_onnxruntime"]
    assert f"on the device, {ratio:.3f}x its ONNX Runtime fp32 bundle" in readme, readme
    assert summary["note"].startswith(f"Ship {fastest} on box") and f"Ship {fastest} on box" in (
        flow / "results/report.html").read_text()
    # The same artifact (copied, not rebuilt), timed on the device and by the host's timing stage:
    # where both intervals exclude ONNX Runtime fp32's 1, they say the same direction. Neither
    # overlap nor the median's side is asserted: two runs minutes apart on this shared machine, of
    # sub-millisecond calls, missed overlap by 0.013 (pruned_onnx_int8: 0.24-0.41 against
    # 0.43-0.66), and OpenVINO f32's device median (0.983) fell under 1 where the host's interval
    # was 1.017-1.075 (docs/target.md).
    host_timing = json.loads((flow / "results/timing.json").read_text())
    compared = 0
    for variant, (host, _) in forms.items():
        low, high = device_timing["variants"][variant]["ratio_to_onnxruntime_ci"]
        host_low, host_high = host_timing["variants"][host]["ratio_to_onnxruntime_ci"]
        if on_target(host, variants) == "copy" and (high < 1 or low > 1) and (host_high < 1 or host_low > 1):
            compared += 1
            assert (high < 1) == (host_high < 1), (variant, [low, high], [host_low, host_high])
    assert compared, (device_timing["variants"], host_timing["variants"])
