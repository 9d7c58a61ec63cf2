"""The workflow files stay formatted and lint-clean (apart from the per-rule conda advice:
the environment is the pinned pip package)."""

import subprocess
import sys

from conftest import REPO


def test_snakefmt_check():
    result = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "rules"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_snakemake_lint_has_only_the_conda_advice():
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True)
    lints = {line.strip() for line in (result.stdout + result.stderr).splitlines() if line.strip().startswith("* ")}
    assert lints <= {"* Specify a conda environment or container for each rule.:"}, lints
