"""A variant's bundle for the target (rule target_bundle): results/target/<target key>/<variant>/,
laid out like a host bundle (deploy/bundle.py: model/, predict.py, requirements.txt,
bundle.json), built for the target's architecture.

Portable artifacts (ONNX, OpenVINO IR) ship as they are: their runtime's wheel for the target
platform runs them, at the versions pinned here (the userland installs exactly those). TVM's
library is cross-compiled for the target's triple and CPU: with the schedules tuned on the
device when the target has one (rule target_tune), else untuned (TVM's default schedules).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..atomic import read_json, write_json
from ..checkpoint import load_model
from ..deploy.bundle import build_bundle
from ..targets import resolve, target_record, tvm_target


def build_target_bundle(variant: str, host_variant: str, kind: str, how: str, artifact: str, weights: str,
                        target: dict, threads: int, precision: str, model_folder: str, predict_path: str,
                        requirements_path: str, record_path: str, database: str | None = None) -> dict:
    """Write the bundle `variant`, built from the host's `host_variant` (itself, or the same
    artifact in another precision); `how` is the kind's way onto the target ("copy" or "tvm");
    `database`: a TVM bundle's schedules, tuned on the device."""
    arch, _ = resolve(target)
    with tempfile.TemporaryDirectory() as scratch:
        if how == "tvm":
            from ..tvm.compile import cross_compile_library

            spec = tvm_target(target, threads)
            built = Path(scratch) / "model.so"
            cross_compile_library(load_model(weights), spec, arch.compiler, built, database)
            build = {"built": (f"cross-compiled with schedules tuned on the device ({database})" if database else
                               "cross-compiled with TVM's default schedules: untuned for this target"),
                     "tvm_target": spec, "compiler": arch.compiler, "source_weights": weights,
                     "tuned_on_device": database is not None}
        elif how == "copy":
            built = Path(artifact)
            build = {"built": f"the host artifact as it is ({artifact}): portable, run by the runtime's "
                              f"{arch.name} wheel"}
        else:
            raise ValueError(f"variant {variant}: {how}")
        build_bundle(variant, kind, built, threads, model_folder, predict_path, requirements_path, record_path,
                     precision, measured=f"for {arch.name} (manylinux {arch.name} wheels), at the versions its plates "
                                         "were checked with under emulation")
    record = read_json(record_path)
    # The host's installed sizes say nothing of the target's wheels.
    record.pop("requirements_installed_bytes", None)
    record.update({"host_variant": host_variant, "source_artifact": artifact if how == "copy" else weights,
                   "target": target_record(target), **build})
    write_json(record, record_path)
    return record
