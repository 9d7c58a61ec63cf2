"""A variant's deploy bundle: results/deploy/<variant>/ holds the artifact (model/), predict.py,
requirements.txt at the versions measured, and bundle.json; README.md comes after the run
(deploy/readme.py), as it quotes the measured accuracy and latency."""

from __future__ import annotations

import logging
import os
import shutil
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from ..atomic import write_json, write_text
from ..codedeps import import_closure
from ..kinds import KINDS
from ..measure.environment import source_commit
from .predict_source import RUNTIMES, SHARED_REQUIRES, predict_source

log = logging.getLogger(__name__)
PACKAGE_DIR = Path(__file__).resolve().parent.parent
# torch's CPU wheel is not on PyPI under its local version "+cpu".
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def artifact_files(artifact: str | Path) -> list[Path]:
    """The files an artifact is: OpenVINO IR is the .xml and its .bin."""
    artifact = Path(artifact)
    return [artifact, artifact.with_suffix(".bin")] if artifact.suffix == ".xml" else [artifact]


def model_modules() -> list[Path]:
    """The package modules that `checkpoint.load_model` imports, for bundles that rebuild LPRNet."""
    entry = PACKAGE_DIR / "checkpoint.py"
    return sorted({entry, *import_closure(entry, PACKAGE_DIR), PACKAGE_DIR / "__init__.py"})


def pinned(names: tuple[str, ...]) -> dict[str, str]:
    return {name: metadata.version(name) for name in names}


def installed_bytes(names: tuple[str, ...]) -> int:
    """Bytes on disk of the installed distributions `names` and everything they require (their
    markers evaluated here): what `pip install -r requirements.txt` puts in a fresh venv."""
    seen: set[str] = set()
    todo = list(names)
    total = 0
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a requirement this platform's markers did not install
        total += sum(f.size or 0 for f in dist.files or [])
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return total


MEASURED_WITH = "at the versions its accuracy and latency were measured with"


def requirements_text(variant: str, versions: dict[str, str], measured: str = MEASURED_WITH) -> str:
    lines = [f"# The runtime packages of bundle {variant}, {measured}.",
             "# pip install -r requirements.txt"]
    if any("+cpu" in v for v in versions.values()):
        lines.append(f"# torch's CPU wheel: pip install -r requirements.txt --extra-index-url {TORCH_INDEX}")
    return "\n".join(lines + [f"{name}=={version}" for name, version in versions.items()]) + "\n"


def _copy_model_folder(files: list[Path], modules: list[Path], folder: Path) -> None:
    """model/ with the artifact files (and the vendored modules), built beside and renamed."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "lprnet_opt").mkdir(parents=True) if modules else partial.mkdir(parents=True)
    try:
        for path in files:
            shutil.copyfile(path, partial / path.name)
        for path in modules:
            shutil.copyfile(path, partial / "lprnet_opt" / path.name)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(partial, folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def build_bundle(variant: str, kind: str, artifact: str | Path, threads: int, model_folder: str | Path,
                 predict_path: str | Path, requirements_path: str | Path, record_path: str | Path,
                 precision: str = "f32", measured: str = MEASURED_WITH) -> dict:
    """Write a variant's bundle, run in `precision`; returns its record (bundle.json). `measured`
    says in requirements.txt what the pinned versions were used for."""
    runtime = KINDS[kind].runtime
    parts = RUNTIMES[runtime]
    files = artifact_files(artifact)
    modules = model_modules() if parts.vendors_model else []
    model_folder = Path(model_folder)
    _copy_model_folder(files, modules, model_folder)
    commit = source_commit() or "unknown"
    write_text(predict_source(runtime, variant, kind, files[0].name, threads, commit, precision), predict_path)
    names = SHARED_REQUIRES + parts.requires
    versions = pinned(names)
    write_text(requirements_text(variant, versions, measured), requirements_path)
    code_bytes = Path(predict_path).stat().st_size + sum(p.stat().st_size for p in modules)
    record = {
        "variant": variant, "kind": kind, "runtime": runtime, "source_artifact": str(artifact),
        "artifact": f"model/{files[0].name}", "files": [f"model/{p.name}" for p in files],
        "vendored_modules": [f"model/lprnet_opt/{p.name}" for p in modules],
        "threads": threads, "precision": precision, "requirements": versions, "needs": parts.needs.strip(" :()"),
        "needs_torch": "torch" in parts.requires,
        "artifact_bytes": sum(p.stat().st_size for p in files), "code_bytes": code_bytes,
        "requirements_installed_bytes": installed_bytes(names), "commit": commit,
    }
    write_json(record, record_path)
    log.info("%s: bundle with %s, %.1f MB of artifact, %.0f MB of installed requirements", variant, runtime,
             record["artifact_bytes"] / 1e6, record["requirements_installed_bytes"] / 1e6)
    return record
