"""One budget over the compositions: the choice reads judge plates and timing only, the verdict
reads the evaluation plates, and unfit builds never ship. Every record is made by the real
builders, runtimes and timing stage on tiny inputs (the shipped synthetic baseline, which reads
generated plates, and one-shot channel cuts of it that lose some)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, quick_timing
from lprnet_opt.atomic import write_json
from lprnet_opt.checkpoint import load_model
from lprnet_opt.compress.channel_prune import build_channel_pruned
from lprnet_opt.compress.distill import DistillSettings
from lprnet_opt.compress.int8_guard import Judge
from lprnet_opt.compress.precision_guard import check_precision
from lprnet_opt.data import load_folder
from lprnet_opt.deploy.bundle import build_bundle
from lprnet_opt.kinds import KINDS, is_exact
from lprnet_opt.measure.accuracy import measure_variant, predict_reference
from lprnet_opt.measure.plates import judge_reading
from lprnet_opt.measure.side_by_side import timing_record
from lprnet_opt.measure.stats import VERDICTS, budget_verdict, plates_to_separate
from lprnet_opt.onnx_export import export_onnx
from lprnet_opt.record import read_record, write_record
from lprnet_opt.report.goal import Goal, choose, evaluation_drop, judge_drops
from lprnet_opt.report.outputs import write_report
from lprnet_opt.report.results import load_results
from lprnet_opt.runtimes import load_runner
from lprnet_opt.synth import write_synthetic_folder

SOURCE = REPO / "data" / "baseline_synthetic.pth"
# The fixture's variants as a config names them: which are exact forms is the registry's word.
VARIANTS = {"baseline": {"kind": "baseline"}, "onnxruntime": {"kind": "onnx", "source": "baseline"},
            "cut30": {"kind": "channel_pruned", "source": "baseline"}, "cut30_onnx": {"kind": "onnx", "source": "cut30"},
            "cut70": {"kind": "channel_pruned", "source": "baseline"}, "cut70_onnx": {"kind": "onnx", "source": "cut70"},
            "openvino_bf16": {"kind": "openvino", "source": "baseline", "precision": "bf16"}}
NO_DISTILLATION = DistillSettings(epochs=0, batch_size=4, learning_rate=1e-4, temperature=2.0, seed=0)


def measure_into(results: Path, folder: str, specs: dict, plates, builds: dict) -> None:
    """Eval records of every variant on `plates`, written to results/<folder>/."""
    baseline = predict_reference(SOURCE, plates.images, 1)
    for variant, (kind, artifact, weights, precision) in specs.items():
        reference = None if kind == "baseline" else predict_reference(weights, plates.images, 1)
        record = measure_variant(variant, kind, artifact, reference, weights, None if reference is None else baseline,
                                 plates.images, plates.labels, 1, build=builds.get(variant, {}),
                                 source=None if kind == "baseline" else "baseline", precision=precision)
        write_record(record, results / folder / f"{variant}.json")


@pytest.fixture(scope="module")
def compositions(tmp_path_factory) -> Path:
    """The baseline in eager PyTorch and ONNX Runtime, one-shot channel cuts of 30% and 70% of its
    MACs in ONNX Runtime, and an OpenVINO bf16 build that its check marked unfit; judge readings
    on one generated set, eval records on two others, and one real timing run."""
    results = tmp_path_factory.mktemp("goal")
    for name, seed in (("judge", 401), ("eval_a", 402), ("eval_b", 403)):
        write_synthetic_folder(results / f"plates_{name}", 80, seed=seed)
    judge_plates = load_folder(results / "plates_judge")
    export_onnx(load_model(SOURCE), results / "baseline.onnx")
    specs = {"baseline": ("baseline", SOURCE, SOURCE, "f32"),
             "onnxruntime": ("onnx", results / "baseline.onnx", SOURCE, "f32")}
    for ratio in (30, 70):
        weights = results / f"cut{ratio}.pt"
        build_channel_pruned(SOURCE, ratio / 100, judge_plates.images[:32], np.empty((0, 3, 24, 94), np.float32),
                             NO_DISTILLATION, 1, weights)
        export_onnx(load_model(weights), results / f"cut{ratio}.onnx")
        specs[f"cut{ratio}_onnx"] = ("onnx", results / f"cut{ratio}.onnx", weights, "f32")
    judge = Judge(judge_plates.images, judge_plates.labels, "generated plates")
    # A real check with a bound no build meets: the bf16 variant is unfit.
    unfit = check_precision("openvino_runtime", str(results / "baseline.onnx"), "bf16", str(SOURCE), judge, 1, 1.01)
    specs["openvino_bf16"] = ("openvino", results / "baseline.onnx", SOURCE, "bf16")
    builds = {"openvino_bf16": unfit}
    for folder in ("eval_a", "eval_b"):
        measure_into(results, folder, specs, load_folder(results / f"plates_{folder}"), builds)
    for variant, (kind, artifact, _, precision) in specs.items():
        runner = load_runner(KINDS[kind].runtime, artifact, 1, precision)
        fit = read_record(results / "eval_a" / f"{variant}.json").fit
        write_json(judge_reading(variant, runner, judge.images, judge.labels, judge.judged_on, fit,
                                 exact=is_exact(variant, VARIANTS)), results / "judge" / f"{variant}.json")
    # Timed as the workflow times them: each through its deploy bundle (the bf16 one compiles in bf16).
    bundles = {}
    for variant, (kind, artifact, _, precision) in specs.items():
        where = results / "deploy" / variant
        build_bundle(variant, kind, artifact, 1, where / "model", where / "predict.py", where / "requirements.txt",
                     where / "bundle.json", precision=precision)
        bundles[variant] = str(where)
    np.save(results / "sample.npy", judge_plates.images[:1])
    artifacts = {v: (KINDS[kind].runtime, str(artifact)) for v, (kind, artifact, *_) in specs.items()}
    write_json(timing_record(artifacts, results / "sample.npy", quick_timing(rounds=4), "baseline",
                             "onnxruntime", bundles=bundles), results / "timing.json")
    return results


def judged_and_timing(results: Path) -> tuple[dict, dict]:
    return judge_drops(sorted((results / "judge").glob("*.json"))), json.loads((results / "timing.json").read_text())


def fastest(names, timing: dict, field: str = "ratio_to_onnxruntime") -> str:
    sign = -1 if field.startswith("throughput_") else 1
    return min(names, key=lambda v: (sign * timing["variants"][v][field], v))


def test_a_generous_budget_admits_the_lossy_cut_a_tight_one_does_not(compositions):
    """Whichever way the timing run orders them: each budget ships the fastest by paired ratio of
    what it admits, and only the generous one admits the cut that loses plates."""
    judged, timing = judged_and_timing(compositions)
    assert judged["cut70_onnx"]["drop_pt"] > 0  # the cut loses plates, so the budgets bite
    assert {v for v, d in judged.items() if d["exact"]} == {"baseline", "onnxruntime"}
    tight = choose(judged, timing, Goal(max_drop=0.0, margin=0.0))
    generous = choose(judged, timing, Goal(max_drop=100.0, margin=0.0))
    assert "cut70_onnx" in generous["qualified"] and "cut70_onnx" not in tight["qualified"]
    assert set(tight["qualified"]) < set(generous["qualified"])
    assert tight["variant"] == fastest(tight["qualified"], timing)
    assert generous["variant"] == fastest(generous["qualified"], timing)
    assert "openvino_bf16" not in generous["qualified"]  # unfit, whatever its plates say


def test_the_throughput_objective_ranks_by_the_paired_throughput_ratio(compositions):
    judged, timing = judged_and_timing(compositions)
    picked = choose(judged, timing, Goal(max_drop=100.0, objective="throughput", margin=0.0))
    assert picked["ranked_by"] == "throughput_ratio_to_onnxruntime"
    fit = [v for v in judged if judged[v]["fit"]]
    assert picked["variant"] == fastest(fit, timing, "throughput_ratio_to_onnxruntime")
    with pytest.raises(ValueError, match="goal.objective"):
        choose(judged, timing, Goal(objective="speed"))


def test_a_budget_no_approximate_build_meets_ships_the_fastest_exact_form_and_says_so(compositions, tmp_path):
    judged, timing = judged_and_timing(compositions)
    goal = Goal(max_drop=0.5, margin=50.0)  # a margin over the budget: no measured drop can pay it
    picked = choose(judged, timing, goal)
    assert picked["goal_met"] and picked["only_exact"]
    assert set(picked["qualified"]) == {"baseline", "onnxruntime"}
    assert picked["variant"] == fastest(["baseline", "onnxruntime"], timing)
    write_report(sorted((compositions / "eval_a").glob("*.json")), compositions / "timing.json", tmp_path / "s.csv",
                 tmp_path / "s.md", tmp_path / "r.html", tmp_path / "charts",
                 judge_paths=sorted((compositions / "judge").glob("*")), goal=goal)
    answer = (tmp_path / "s.md").read_text().splitlines()[0]
    assert answer.startswith(f"Ship {picked['variant']} ") and "Only exact forms of the baseline qualified" in answer
    assert "only exact forms qualified" in (tmp_path / "r.html").read_text()


def test_the_choice_is_unchanged_when_the_evaluation_images_change(compositions, tmp_path):
    """Two evaluation sets, the same judge readings and timing: the same composition ships; only
    the verdict may move."""
    lines = []
    for folder in ("eval_a", "eval_b"):
        out = tmp_path / folder
        out.mkdir()
        write_report(sorted((compositions / folder).glob("*.json")), compositions / "timing.json", out / "s.csv",
                     out / "s.md", out / "r.html", out / "charts", judge_paths=sorted((compositions / "judge").glob("*")),
                     goal=Goal(max_drop=2.0, margin=0.5))
        lines.append((out / "s.md").read_text().splitlines()[0])
    shipped = [line.split(" (")[0] for line in lines]
    assert shipped[0].startswith("Ship ") and shipped[0] == shipped[1]
    a, b = (read_record(compositions / f / "baseline.json") for f in ("eval_a", "eval_b"))
    assert a.plates != b.plates  # the evaluation plates did change


def test_the_verdict_takes_each_of_its_four_values_from_a_real_paired_record(compositions):
    judged, timing = judged_and_timing(compositions)
    frame = load_results(sorted((compositions / "eval_a").glob("*.json")), timing, judged=judged)
    row = frame.set_index("variant").loc["cut70_onnx"]
    drop = evaluation_drop(row)
    low, high = drop["drop_ci_pt"]
    assert drop["lost"] == row["plates_lost"] and low > 0, drop  # a real loss, told apart from none
    budgets = {"within": high + 0.1, "consistent": (drop["drop_pt"] + high) / 2,
               "inconclusive": (low + drop["drop_pt"]) / 2, "over": low / 2}
    assert {budget_verdict(drop, b) for b in budgets.values()} == set(VERDICTS)
    assert all(budget_verdict(drop, b) == v for v, b in budgets.items())
    assert plates_to_separate(drop, drop["drop_pt"]) is None
    assert plates_to_separate(drop, budgets["consistent"]) > drop["images"]
