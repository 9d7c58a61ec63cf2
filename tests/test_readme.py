"""The README stays a guide: at most 12,000 bytes and no measured figure (a timing, ratio, size,
share, date, test count or CPU model of a run). Measured numbers live in docs/, dated, where they
can be wrong for another CPU without misleading a new user."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import REPO

README_LIMIT = 12_000
# What a measured figure looks like. Each pattern found a figure of the 05993e8 README.
FIGURES = {
    "date": r"\b20\d\d-\d\d-\d\d\b",
    "duration": r"\b\d+(?:\.\d+)?(?:\s*(?:-|to|and)\s*\d+(?:\.\d+)?)?\s*(?:ms|s|sec|seconds|min|minutes|h|hours)\b",
    "ratio": r"\b\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?x(?![\d\w])",
    "size": r"\b\d+(?:\.\d+)?\s*(?:KB|MB|GB|KiB|MiB|GiB)\b",
    # A share, except a confidence level ("95% interval").
    "share": r"\b\d+(?:\.\d+)?\s*%(?!\s+(?:two-sided\s+)?(?:interval|CI|confidence))",
    "count of a run": r"\b\d+\s+(?:tests|jobs|passed|skipped)\b",
    "CPU model": r"\b(?:EPYC|Xeon|Ryzen|Core i\d|family \d+ model \d+|znver\d|rocketlake|sapphirerapids)\b",
    "rate": r"\b\d+(?:\.\d+)?\s*(?:GFLOP/s|images/s|img/s|plates/s)\b",
}


def measured_figures(text: str) -> list[tuple[str, str]]:
    """Every (kind, match) of a measured figure in `text`, outside fenced code blocks (commands
    and config are not measurements)."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    return [(kind, m.group(0)) for kind, pattern in FIGURES.items() for m in re.finditer(pattern, prose)]


def readme_problems(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    size = len(text.encode("utf-8"))
    problems = [f"{path.name}: {size} bytes, over {README_LIMIT}"] if size > README_LIMIT else []
    return problems + [f"{path.name}: a measured figure ({kind}): {found!r}" for kind, found in measured_figures(text)]


def test_the_readme_is_a_guide_without_measured_figures():
    assert readme_problems(REPO / "README.md") == []


# Figures of the 05993e8 README, one per line it carried: each must be caught.
OLD_FIGURES = [
    "It takes about 13-15 min (51 jobs, 13 of them deploy bundles) from a fresh clone",
    "largest process 4.9 GB: 13.0 and 13.7 min on 2026-12-04",
    "EPYC (family 25 model 17, AVX-512 VNNI)",
    "Unit tests on tiny models and data: 151 tests in 4.9 min",
    "gave 1.02-1.21x ONNX Runtime's latency depending on `tvm.seed`, 6144 trials 0.91-0.92x",
    "the tuning jobs took 131-176 s and the library ran at 0.90-0.94x",
    "read only 66% of the plates as fp32 did",
    "that added 9 s to every local dry run and rerun",
    "A dry run (`snakemake -n report`) then takes about 2 s",
]
# What the guide must be able to name: commands, config defaults and the model's geometry.
GUIDE_TERMS = ["snakemake --cores 8 report", "max_drop: 1.0", "94x24 input", "68 classes", "torch==2.13.0",
               "the paired drop's 95% interval", "`timing.{warmup,runs,rounds}` | 20, 200, 5",
               "u8 x s8 products", "blocks of 10 batch-1 calls", "(0.5, 1, 2 pt)", "`tvm.trials` | 160"]


def test_the_figure_finder_catches_every_figure_of_the_old_readme():
    for line in OLD_FIGURES:
        assert measured_figures(line), line


def test_the_figure_finder_lets_commands_and_config_defaults_through():
    for term in GUIDE_TERMS:
        assert measured_figures(term) == [], term


def test_a_readme_with_one_pasted_measurement_fails(tmp_path):
    copy = tmp_path / "README.md"
    copy.write_text((REPO / "README.md").read_text(encoding="utf-8") + "\n13.0 min on 2026-12-04\n", encoding="utf-8")
    problems = readme_problems(copy)
    assert any("duration" in p for p in problems) and any("date" in p for p in problems)


DOCS_PAGE_LIMIT = 30_000


def test_the_docs_index_lists_every_page_and_no_page_is_a_log():
    docs = REPO / "docs"
    index = (docs / "README.md").read_text(encoding="utf-8")
    pages = sorted(p.name for p in docs.glob("*.md") if p.name != "README.md")
    assert [p for p in pages if f"]({p})" not in index] == []
    assert {p.name: p.stat().st_size for p in docs.glob("*.md") if p.stat().st_size > DOCS_PAGE_LIMIT} == {}
