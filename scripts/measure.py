"""Measure one variant with the shared harness (rule measure)."""

from lprnet_opt.atomic import read_json
from lprnet_opt.data import read_split
from lprnet_opt.measure.accuracy import measure_variant
from lprnet_opt.record import write_record
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
evaluation = read_split(snakemake.input.split, "evaluation")
build_info = list(snakemake.input.build_info)  # empty for kinds without a build rule
reference = list(snakemake.input.reference)  # empty for the baseline, its own reference
record = measure_variant(
    variant=snakemake.wildcards.variant,
    kind=snakemake.params.kind,
    artifact=snakemake.input.artifact,
    reference_weights=reference[0] if reference else None,
    weights=snakemake.input.weights,
    baseline_weights=snakemake.input.baseline,
    images=evaluation.images,
    labels=evaluation.labels,
    threads=snakemake.params.threads,
    build=read_json(build_info[0]) if build_info else {},
    source=snakemake.params.source,
)
write_record(record, snakemake.output[0])
