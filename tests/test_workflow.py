"""The workflow's parse: code inputs derived from imports, no import circles, nothing host-bound."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from lprnet_opt.codedeps import direct_imports, import_closure

PACKAGE = REPO / "src" / "lprnet_opt"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_closure_follows_every_import_form(tmp_path):
    pkg = tmp_path / "lprnet_opt"
    write(pkg / "__init__.py", "")
    write(pkg / "a.py", "from .b import thing\n")
    write(pkg / "b.py", "import numpy\n\ndef f():\n    from .sub import c  # lazy, still runs\n")
    write(pkg / "sub" / "__init__.py", "")
    write(pkg / "sub" / "c.py", "from ..d import x\nfrom lprnet_opt.e import y\n")
    write(pkg / "d.py", "from . import a  # a cycle is followed once\n")
    write(pkg / "e.py", "")
    write(pkg / "unused.py", "")
    script = tmp_path / "script.py"
    write(script, "from lprnet_opt.a import z\n")
    names = {str(p.relative_to(pkg)) for p in import_closure(script, pkg)}
    assert names == {"__init__.py", "a.py", "b.py", "sub/__init__.py", "sub/c.py", "d.py", "e.py"}


def package_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_imports_one_that_imports_it_back():
    graph = {path: direct_imports(PACKAGE.resolve(), path.resolve()) for path in package_modules()}
    graph = {p.resolve(): deps for p, deps in graph.items()}
    state: dict[Path, str] = {}

    def visit(node: Path, trail: list[Path]) -> None:
        state[node] = "open"
        for dep in graph.get(node, ()):
            if state.get(dep) == "open":
                cycle = trail[trail.index(dep):] + [dep] if dep in trail else [node, dep]
                pytest.fail("import circle: " + " -> ".join(str(p.relative_to(PACKAGE.resolve())) for p in cycle))
            if dep not in state:
                visit(dep, trail + [dep])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])


# The package's stages, lowest first (README, "Package layout"): a module imports only from
# its own stage or a lower one. Top-level modules not named here are the shared core.
STAGES = {"runtimes": 1, "measure": 2, "compress": 3, "tvm": 3, "deploy": 3, "report": 4, "cross": 5, "bench": 5}


def stage_of(package: Path, path: Path) -> tuple[str, int]:
    top = path.resolve().relative_to(package.resolve()).parts[0].removesuffix(".py")
    return (top, STAGES[top]) if top in STAGES else ("core", 0)


def upward_imports(package: Path) -> list[str]:
    """Every import from a higher stage, or across stages of one level (compress and tvm)."""
    wrong = []
    for path in sorted(package.rglob("*.py")):
        stage, level = stage_of(package, path)
        for dep in direct_imports(package.resolve(), path.resolve()):
            dep_stage, dep_level = stage_of(package, dep)
            if dep_level > level or (dep_level == level and dep_stage != stage and level > 0):
                wrong.append(f"{path.relative_to(package)} ({stage}) imports "
                             f"{dep.relative_to(package.resolve())} ({dep_stage})")
    return wrong


def test_no_module_imports_from_a_stage_above_its_own():
    assert not upward_imports(PACKAGE)


def test_stage_check_sees_an_upward_import(tmp_path):
    """The same check on a package that breaks the rule: a runtime importing from measure."""
    pkg = tmp_path / "lprnet_opt"
    write(pkg / "__init__.py", "")
    write(pkg / "core.py", "")
    write(pkg / "runtimes" / "__init__.py", "")
    write(pkg / "runtimes" / "x.py", "from ..measure.y import z\nfrom ..core import w\n")
    write(pkg / "measure" / "__init__.py", "")
    write(pkg / "measure" / "y.py", "from ..runtimes.x import q\n")
    assert sorted(upward_imports(pkg)) == ["runtimes/x.py (runtimes) imports measure/__init__.py (measure)",
                                           "runtimes/x.py (runtimes) imports measure/y.py (measure)"]


def test_static_closure_covers_what_python_actually_imports():
    """Import each module in turn in one interpreter; what it loads must be in its closure."""
    modules = [".".join(("lprnet_opt", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
               for p in package_modules() if p.name != "__main__.py"]
    script = (
        "import importlib, json, sys\n"
        "out = {}\n"
        f"for name in {modules!r}:\n"
        "    before = set(sys.modules)\n"
        "    importlib.import_module(name)\n"
        "    out[name] = sorted(m for m in set(sys.modules) - before if m.startswith('lprnet_opt'))\n"
        "print(json.dumps(out))\n"
    )
    for name, new in run_python(script, REPO).items():
        path = file_of(name)
        closure = {p.resolve() for p in import_closure(path, PACKAGE)} | {path.resolve()}
        for module in new:
            assert file_of(module).resolve() in closure, f"{name} imported {module}, which its static closure misses"


def file_of(module: str) -> Path:
    path = PACKAGE.joinpath(*module.split(".")[1:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def run_python(script: str, cwd: Path) -> dict:
    """Run `script` in a fresh interpreter; its last line of output is JSON."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


TINY_PARSE = {
    "baseline_weights": "weights.pth",
    "variants": {
        "baseline": {"kind": "baseline"}, "quantized": {"kind": "quantized"}, "pruned": {"kind": "pruned", "ratio": 0.5},
        "mlc": {"kind": "tvm"}, "onnxruntime": {"kind": "onnx"}, "openvino": {"kind": "openvino"},
        "torch_compile": {"kind": "torch_compile"}, "onnx_int8": {"kind": "onnx_int8"},
        "openvino_int8": {"kind": "openvino_int8"}, "channel_pruned": {"kind": "channel_pruned", "macs_ratio": 0.4},
    },
}


def dry_run(workdir: Path, prelude: str = "") -> dict:
    """`snakemake -n report` in-process after `prelude`; returns its jobs and the heavy modules loaded."""
    (workdir / "weights.pth").write_bytes(b"")
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY_PARSE))
    argv = ["snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile",
            str(workdir / "tiny.yaml"), "-n", "report"]
    script = (
        "import io, json, sys, contextlib\n" + prelude +
        "from snakemake.cli import main\n"
        f"sys.argv = {argv!r}\n"
        "buffer = io.StringIO()\n"
        "with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):\n"
        "    try:\n        main()\n    except SystemExit as e:\n        code = e.code\n"
        "heavy = sorted(m for m in ('torch', 'tvm') if m in sys.modules and not hasattr(sys.modules[m], 'FAKE'))\n"
        "print(json.dumps({'code': code, 'heavy': heavy, 'out': buffer.getvalue()}))\n"
    )
    result = run_python(script, workdir)
    assert result["code"] == 0, result["out"][-3000:]
    return result


def jobs(out: str) -> list[tuple[str, list[str], list[str]]]:
    """(rule, inputs, outputs) of every job a dry run lists."""
    found = []
    for block in re.split(r"\n(?=rule \w+:)", out):
        rule = re.match(r"rule (\w+):", block)
        if rule:
            field = lambda name: [s.strip() for s in re.search(rf"^\s+{name}: (.*)$", block, re.M).group(1).split(",")] \
                if re.search(rf"^\s+{name}: ", block, re.M) else []
            found.append((rule[1], field("input"), field("output")))
    return found


def test_parse_imports_neither_torch_nor_tvm(tmp_path):
    assert dry_run(tmp_path)["heavy"] == []


def fake_tvm(cpu: str) -> str:
    """A stand-in `tvm` whose host CPU is `cpu`: a parse that asked TVM would key paths by it."""
    return (
        "import types\n"
        "tvm = types.ModuleType('tvm'); tvm.FAKE = True\n"
        "tvm.target = types.SimpleNamespace(codegen=types.SimpleNamespace("
        f"llvm_get_system_cpu=lambda: {cpu!r}, llvm_is_valid_cpu=lambda *a: True))\n"
        "sys.modules['tvm'] = tvm\n"
    )


def test_parse_gives_the_same_jobs_on_different_cpus(tmp_path):
    outputs = []
    for cpu in ("znver3", "emeraldrapids"):
        workdir = tmp_path / cpu
        workdir.mkdir()
        outputs.append(sorted(o for _, _, out in jobs(dry_run(workdir, fake_tvm(cpu))["out"]) for o in out))
    assert outputs[0] == outputs[1]
    assert any("results/tvm/tune/host/" in o for o in outputs[0])


SCRIPT_OF = {"synthetic_plates": "synthetic_plates.py", "split": "split.py", "prune": "prune.py",
             "quantize": "quantize.py", "tvm_tasks": "tvm_tasks.py", "tvm_tune_shard": "tvm_tune_shard.py",
             "tvm_merge": "tvm_merge.py", "tvm_compile": "tvm_compile.py", "onnx_export": "onnx_export.py",
             "measure": "measure.py", "timing": "timing.py", "summarize": "summarize.py",
             "onnx_int8": "onnx_int8.py", "openvino_int8": "openvino_int8.py", "channel_prune": "channel_prune.py",
             "judge": "judge.py", "calibration_split": "calibration_split.py"}
RUNTIME_OF = {"baseline": "eager", "quantized": "exported_inductor", "pruned": "eager", "mlc": "tvm_vm",
              "onnxruntime": "onnx_runtime", "openvino": "openvino_runtime", "torch_compile": "inductor",
              "onnx_int8": "onnx_runtime", "openvino_int8": "openvino_runtime", "channel_pruned": "eager"}


def test_every_rule_lists_exactly_the_code_its_script_runs(tmp_path):
    listed = jobs(dry_run(tmp_path)["out"])
    assert {rule for rule, _, _ in listed} >= set(SCRIPT_OF)
    for rule, inputs, outputs in listed:
        if rule not in SCRIPT_OF:
            continue
        code = {Path(p).resolve() for p in inputs if "src/lprnet_opt" in p}
        expected = set(import_closure(REPO / "scripts" / SCRIPT_OF[rule], PACKAGE))
        # Runtimes a script picks by name: the variant's for measure, every one for timing, and
        # ONNX Runtime for the ONNX INT8 build, which measures its candidates with it.
        runtimes = {"measure": [RUNTIME_OF.get(Path(outputs[0]).stem)], "judge": [RUNTIME_OF.get(Path(outputs[0]).stem)],
                    "timing": set(RUNTIME_OF.values()),
                    "onnx_int8": ["onnx_runtime"]}
        for name in runtimes.get(rule, []):
            runtime = PACKAGE / "runtimes" / f"{name}.py"
            expected |= {runtime.resolve(), *import_closure(runtime, PACKAGE)}
        assert code == expected, (rule, outputs)
    code_of = {(rule, tuple(out)): {Path(p).name for p in inputs if "src/lprnet_opt" in p} for rule, inputs, out in listed}
    by_rule = {}
    for (rule, _), names in code_of.items():
        by_rule.setdefault(rule, set()).update(names)
    assert "synth.py" in by_rule["synthetic_plates"]
    assert "synth.py" not in {p.name for p in import_closure(REPO / "scripts" / "train_baseline.py", PACKAGE)}
    assert "tvm_vm.py" in by_rule["tvm_compile"] and "graph.py" in by_rule["tvm_compile"]
    measure_onnx = next(names for (rule, out), names in code_of.items() if rule == "measure" and "onnxruntime" in out[0])
    assert "compile.py" not in measure_onnx and "tvm_vm.py" not in measure_onnx



HEAP_PROBE = """
import os, sys
import numpy as np
from lprnet_opt.workflow import keep_freed_memory
if sys.argv[1] == "keep":
    keep_freed_memory()
def resident_mb():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
before = resident_mb()
block = np.ones(64 << 20, dtype=np.uint8)  # 64 MB, over glibc's largest mmap threshold
del block
print(resident_mb() - before)
"""


def test_job_processes_keep_freed_memory_for_the_next_batch():
    def kept_mb(mode: str) -> float:
        out = subprocess.run([sys.executable, "-c", HEAP_PROBE, mode], capture_output=True, text=True, check=True)
        return float(out.stdout.split()[-1])

    # glibc's default gives the block back to the kernel, so the next batch faults it in again.
    assert kept_mb("default") < 16
    assert kept_mb("keep") > 48


def snakemake_in(workdir: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                           str(workdir), "--configfile", str(workdir / "tiny.yaml"), *args],
                          capture_output=True, text=True, cwd=workdir)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


# What new evaluation images may rerun: the reads of them, what summarizes those, and the report.
EVALUATION_RULES = {"split", "reference", "measure", "summarize", "bundle_readmes", "report"}


def test_new_evaluation_images_rerun_only_evaluation_reads_summaries_and_the_report(tmp_path):
    """Every output of a tiny config made up to date (`--touch`), then one image added to the
    evaluation folder: the dry run lists evaluation reads, summaries and the report, and no
    build, guard, judge reading or timing, whose inputs are the calibration split alone."""
    from lprnet_opt.synth import write_synthetic_folder

    write_synthetic_folder(tmp_path / "evaluation", 6, seed=1)
    write_synthetic_folder(tmp_path / "calibration", 6, seed=2)
    config = {**TINY_PARSE, "images": "evaluation", "calibration_images": "calibration"}
    (tmp_path / "weights.pth").write_bytes(b"")
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    listed = jobs(snakemake_in(tmp_path, "-n", "report"))
    for _, _, outputs in listed:
        for output in outputs:
            path = tmp_path / output
            # directory() outputs (charts, tuning folders, generated plates) have no suffix.
            path.mkdir(parents=True, exist_ok=True) if not path.suffix else (
                path.parent.mkdir(parents=True, exist_ok=True), path.touch())
    snakemake_in(tmp_path, "--touch", "report")
    assert not jobs(snakemake_in(tmp_path, "-n", "report"))  # up to date: nothing to run
    time.sleep(1.1)  # a newer mtime than every touched output
    write_synthetic_folder(tmp_path / "new", 1, seed=3)
    for image in (tmp_path / "new").iterdir():
        image.rename(tmp_path / "evaluation" / image.name)
    rerun = {rule for rule, _, _ in jobs(snakemake_in(tmp_path, "-n", "report"))}
    assert {"split", "measure", "summarize", "report"} <= rerun <= EVALUATION_RULES, rerun
