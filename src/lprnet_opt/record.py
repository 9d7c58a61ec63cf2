"""The eval record: what `measure` writes for one variant's accuracy and what the report reads.

One typed definition, so a field the report reads is a field `measure` writes (the report
once read a top-level `sparsity` that `measure` wrote under `build`, and drew an empty chart).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .atomic import read_json, write_json


class RecordError(ValueError):
    """An eval JSON that is not a record of this version; the message names the file."""


@dataclass(frozen=True)
class EvalRecord:
    variant: str
    kind: str
    # The variant it was built from (config `source`), None for the baseline and pruned kinds.
    source: str | None
    runtime: str
    artifact: str
    n_images: int
    # Exact-plate and character accuracy on the evaluation split, batch 1, with the 95% Wilson
    # interval of the exact-plate accuracy (stats.wilson_interval).
    accuracy: float
    n_correct: int
    accuracy_ci_low: float
    accuracy_ci_high: float
    char_accuracy: float
    # Against the baseline on the same plates: plates read right only by this variant (gained)
    # or only by the baseline (lost), and the exact McNemar p-value of that difference.
    plates_gained: int
    plates_lost: int
    mcnemar_p: float
    # Share of plates equal to the fp32 baseline's.
    agreement: float
    # The fp32 weights the variant was built from, run in eager PyTorch (kinds.reference_of);
    # None for the baseline, which is that reference itself.
    reference: str | None
    agreement_with_source: float | None
    max_abs_logit_diff_vs_source: float | None
    # Share of conv weights that are exactly zero in the variant's fp32 weights.
    sparsity: float
    # Multiply-accumulates of one batch-1 forward of the variant's fp32 weights (channel
    # pruning lowers it; unstructured pruning does not), and the share of the full LPRNet's
    # that are gone (channel_prune.count_macs).
    macs: int
    macs_removed: float
    size_bytes: int
    size_gzip_bytes: int
    # Threads of the accuracy passes. Latency, throughput and peak RSS are not here: the timing
    # stage measures every variant side by side (results/timing.json).
    threads: int
    env: dict = field(default_factory=dict)
    # The runtime's own settings for this artifact (runtimes.<runtime>.settings), e.g.
    # OpenVINO's precision hint; {} for runtimes without any.
    runtime_settings: dict = field(default_factory=dict)
    # What the runtime read back of the precision it ran (runtimes.precision_of): for OpenVINO
    # the precision hint it settled on and each conv's precision and kernel, for inductor the
    # dtypes of its weights and logits; {} for runtimes with one fixed precision.
    precision: dict = field(default_factory=dict)
    # The build rule's record (kinds.build_info_of), or {} for kinds without a build.
    build: dict = field(default_factory=dict)
    # Per evaluation plate, in split order: "1" read exactly, "0" not. Paired tests need it.
    correct: str = ""
    # Per evaluation plate, in split order: the plate string read (a deploy bundle's predict.py
    # must read the same, tests/test_deploy.py).
    plates: list[str] = field(default_factory=list)
    # False when the build's INT8 guard rejected every attempt, or a bf16 variant failed its
    # check (build["guard"]): the report
    # shows the variant as unfit, with `unfit_reason`, and never recommends it.
    fit: bool = True
    unfit_reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "<record>") -> EvalRecord:
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(data))
        unknown = sorted(set(data) - names)
        if missing or unknown:
            raise RecordError(f"{source}: not an eval record of this version (missing {missing}, unknown {unknown}); "
                              "rerun the measure rule")
        return cls(**data)


def write_record(record: EvalRecord, path: str | Path) -> None:
    write_json(record.to_dict(), path)


def read_record(path: str | Path) -> EvalRecord:
    return EvalRecord.from_dict(read_json(path), str(path))


# Scalar fields, in order: the report's table and summary.csv.
NESTED_FIELDS = ("env", "runtime_settings", "precision", "build", "correct", "plates")
SCALAR_FIELDS = [f.name for f in fields(EvalRecord) if f.name not in NESTED_FIELDS]
