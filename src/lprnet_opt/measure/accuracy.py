"""Accuracy of one variant, run through its own runtime: plates, agreement with the fp32
references, size. Nothing here is timed: latency comes from the timing stage (`timing`), which
times every variant side by side, so accuracy jobs need not reserve the machine.
"""

from __future__ import annotations

import gzip
import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..checkpoint import load_model
from .environment import environment
from ..kinds import KINDS
from ..metrics import agreement, char_accuracy, plate_accuracy
from ..coupling import count_macs
from ..model import DENSE, conv_sparsity
from ..record import EvalRecord
from .plates import REFERENCE_BATCH, images_digest, predict_plates, reading_batch
from .stats import discordant_pairs, mcnemar_exact, wilson_interval
from ..runtimes import Runner, load_runner, precision_of
from ..runtimes.eager import load as load_eager

log = logging.getLogger(__name__)
@dataclass(frozen=True)
class Reference:
    """Eager fp32 PyTorch's logits and plates for one weights file on the evaluation images.
    Rule `reference` predicts each source once and every variant built from it reads the file:
    the default's 13 accuracy jobs predicted a reference 15 times before, 3-4 s each."""

    weights: str
    logits: np.ndarray
    plates: list[str]


def predict_reference(weights: str | Path, images: np.ndarray, threads: int) -> Reference:
    logits, plates = predict_plates(load_eager(weights, threads), images, f"reference {weights}", REFERENCE_BATCH)
    return Reference(str(weights), logits, plates)


def write_reference(reference: Reference, images: np.ndarray, path: str | Path) -> None:
    """results/reference/<variant>.npz, with a digest of the images it was predicted on."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, logits=reference.logits.astype(np.float32), plates=np.array(reference.plates, dtype=str),
                 weights=np.array(reference.weights), images_sha256=np.array(images_digest(images)))


def read_reference(path: str | Path, images: np.ndarray) -> Reference:
    """A reference written by `write_reference`; refused, naming the file, if it was predicted on
    other images than `images`."""
    with np.load(path) as data:
        if str(data["images_sha256"]) != images_digest(images):
            raise ValueError(f"{path}: predicted on other images than the {len(images)} evaluated here; "
                             "delete it and rerun")
        return Reference(str(data["weights"]), data["logits"], [str(p) for p in data["plates"]])


def size_on_disk(path: str | Path) -> tuple[int, int]:
    """Raw and gzip-compressed bytes of a file (OpenVINO IR: the .xml and its .bin), or of all
    files in a folder."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    if path.suffix == ".xml":
        files.append(path.with_suffix(".bin"))
    raw = sum(p.stat().st_size for p in files)
    packed = sum(len(gzip.compress(p.read_bytes(), compresslevel=9)) for p in files)
    return raw, packed


def runtime_settings(runtime: str, threads: int, precision: str = "f32") -> dict:
    module = importlib.import_module(f"lprnet_opt.runtimes.{runtime}")
    if not hasattr(module, "settings"):
        return {}
    return module.settings(threads) if precision == "f32" else module.settings(threads, precision)


def measure_variant(
    variant: str,
    kind: str,
    artifact: str | Path,
    reference: Reference | None,
    weights: str | Path,
    baseline: Reference | None,
    images: np.ndarray,
    labels: list[str],
    threads: int,
    build: dict | None = None,
    source: str | None = None,
    precision: str = "f32",
    runner: Runner | None = None,
) -> EvalRecord:
    """Measure one variant through its own runtime, against its fp32 reference and the baseline.

    `reference` holds the predictions of the fp32 weights the variant was built from
    (`kinds.reference_of`), and `baseline` the baseline's; both None for a kind that is its
    own reference (the baseline). `weights` is the variant's own fp32 state_dict
    (`kinds.weights_of`), for its sparsity and MACs. `precision` is what the runtime is asked
    for; the record holds what it read back.
    """
    spec = KINDS[kind]
    own_reference = spec.reference == "self"
    if own_reference != (reference is None) or own_reference != (baseline is None):
        raise ValueError(f"{variant}: kind '{kind}' takes {'no' if own_reference else 'a'} reference and baseline")
    runner = runner or load_runner(spec.runtime, artifact, threads, precision)
    logits, plates = predict_plates(runner, images, variant, reading_batch(spec.runtime))
    reference_plates = plates if reference is None else reference.plates
    baseline_plates = plates if baseline is None else baseline.plates
    raw, packed = size_on_disk(artifact)
    own = load_model(weights)
    macs = count_macs(own.widths, own.num_classes)
    correct = [p == t for p, t in zip(plates, labels, strict=True)]
    gained, lost = discordant_pairs(correct, [p == t for p, t in zip(baseline_plates, labels, strict=True)])
    low, high = wilson_interval(sum(correct), len(labels))
    return EvalRecord(
        variant=variant,
        kind=kind,
        source=source,
        runtime=spec.runtime,
        artifact=str(artifact),
        n_images=len(labels),
        accuracy=plate_accuracy(plates, labels),
        n_correct=sum(correct),
        accuracy_ci_low=low,
        accuracy_ci_high=high,
        char_accuracy=char_accuracy(plates, labels),
        plates_gained=gained,
        plates_lost=lost,
        mcnemar_p=mcnemar_exact(gained, lost),
        agreement=agreement(plates, baseline_plates),
        reference=None if reference is None else reference.weights,
        agreement_with_source=None if reference is None else agreement(plates, reference_plates),
        max_abs_logit_diff_vs_source=None if reference is None else float(np.abs(logits - reference.logits).max()),
        sparsity=conv_sparsity(own),
        macs=macs,
        macs_removed=1 - macs / count_macs(DENSE, own.num_classes),
        size_bytes=raw,
        size_gzip_bytes=packed,
        threads=threads,
        env=environment(threads),
        runtime_settings=runtime_settings(spec.runtime, threads, precision),
        precision=precision_of(runner),
        build=build or {},
        correct="".join("1" if c else "0" for c in correct),
        plates=plates,
        fit=bool((build or {}).get("fit", True)),
        unfit_reason=(build or {}).get("guard", {}).get("unfit_reason"),
    )
