"""The tiny workflow through a real SLURM scheduler with the shipped profile."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from test_pipeline import TINY

pytestmark = [pytest.mark.slow, pytest.mark.slurm]


def slurm_ready() -> str | None:
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "the SLURM executor plugin is not installed: python -m pip install -e '.[slurm]' -c constraints.txt"
    if not shutil.which("sbatch"):
        return "sbatch not found: SLURM is not installed (CI installs it with .ci/start-slurm.sh)"
    state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    if state.returncode != 0 or not any(s in state.stdout for s in ("idle", "mix", "alloc")):
        return f"no idle SLURM node (sinfo: {state.stdout.strip() or state.stderr.strip()})"
    return None


@pytest.fixture(scope="module")
def profile(tmp_path_factory) -> Path:
    reason = slurm_ready()
    if reason:
        pytest.skip(reason)
    # The shipped profile, unchanged but for partition and account.
    config = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    config["default-resources"].update(slurm_partition="debug", slurm_account="ci")
    folder = tmp_path_factory.mktemp("profile")
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(workdir / "tiny.yaml"), *args],
        capture_output=True, text=True, cwd=workdir,
    )


def test_tiny_workflow_runs_through_sbatch(profile, tmp_path):
    # The shipped synthetic baseline, so the compared accuracies are not trivially zero.
    shutil.copy(REPO / "data/baseline_synthetic.pth", tmp_path / "weights.pth")
    config = dict(TINY, variants={k: v for k, v in TINY["variants"].items() if k in ("baseline", "mlc")})
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))

    dry = run(tmp_path, "--profile", str(profile), "-n", "report")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "rule tvm_tune_shard" in dry.stdout and "slurm_partition=debug" in dry.stdout

    slurm = run(tmp_path, "--profile", str(profile), "report")
    assert slurm.returncode == 0, slurm.stderr[-4000:]
    logs = list((tmp_path / "logs").rglob("*.log"))
    submitted = [p for p in logs if "running as SLURM job" in p.read_text()]
    assert any("tvm_tune_shard" in str(p) for p in submitted), "tuning shards did not run under sbatch"
    assert any("measure" in str(p) for p in submitted)
    assert not any("summarize" in str(p) for p in submitted), "the report is a local rule"

    # The same artifacts evaluated by a local run: the SLURM-built results and their metadata
    # are copied (rebuilding them locally took 5 of this test's 11 minutes), and only the
    # evaluations and what reads them run here.
    local = tmp_path / "local"
    local.mkdir()
    for name in ("weights.pth", "tiny.yaml"):
        shutil.copy2(tmp_path / name, local)
    shutil.copytree(tmp_path / "results", local / "results")
    shutil.copytree(tmp_path / ".snakemake/metadata", local / ".snakemake/metadata")
    planned = run(local, "--cores", "2", "-n", "-R", "measure", "report")
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert "rule measure" in planned.stdout
    assert not re.search(r"rule (tvm_|quantize|prune|split|synthetic)", planned.stdout), planned.stdout[-3000:]
    assert run(local, "--cores", "2", "-R", "measure", "report").returncode == 0
    assert json.loads((local / "results/eval/baseline.json").read_text())["accuracy"] > 0.5
    for variant in config["variants"]:
        on_slurm = json.loads((tmp_path / f"results/eval/{variant}.json").read_text())
        here = json.loads((local / f"results/eval/{variant}.json").read_text())
        assert on_slurm["accuracy"] == here["accuracy"], variant
        assert on_slurm["char_accuracy"] == here["char_accuracy"], variant
