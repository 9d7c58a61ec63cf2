"""Measure one variant with the shared harness (rule measure)."""

from lprnet_opt.data import read_split
from lprnet_opt.measure import measure_variant
from lprnet_opt.workflow import read_json, setup_logging, write_json

setup_logging(snakemake.log[0])
evaluation = read_split(snakemake.input.split, "evaluation")
record = measure_variant(
    variant=snakemake.wildcards.variant,
    kind=snakemake.params.kind,
    artifact=snakemake.input.artifact,
    source_weights=snakemake.input.source,
    baseline_weights=snakemake.input.baseline,
    images=evaluation.images,
    labels=evaluation.labels,
    threads=snakemake.params.threads,
    settings=snakemake.params.measure,
)
build_info = list(snakemake.input.build_info)  # empty for the baseline
record["build"] = read_json(build_info[0]) if build_info else {}
write_json(record, snakemake.output[0])
