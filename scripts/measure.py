"""Measure one variant with the shared harness (rule measure): its accuracy on the evaluation split."""

from lprnet_opt.atomic import read_json, write_json
from lprnet_opt.data import read_split
from lprnet_opt.kinds import KINDS
from lprnet_opt.measure.accuracy import measure_variant, read_reference
from lprnet_opt.record import write_record
from lprnet_opt.runtimes import load_runner
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
p = snakemake.params
evaluation = read_split(snakemake.input.split, "evaluation")
build_info = list(snakemake.input.build_info)  # empty for kinds without a build rule
# Both empty for the baseline, its own reference.
reference = [read_reference(path, evaluation.images) for path in snakemake.input.reference]
baseline = [read_reference(path, evaluation.images) for path in snakemake.input.baseline]
runner = load_runner(KINDS[p.kind].runtime, snakemake.input.artifact, p.threads, p.precision)
record = measure_variant(
    variant=snakemake.wildcards.variant,
    kind=p.kind,
    artifact=snakemake.input.artifact,
    reference=reference[0] if reference else None,
    weights=snakemake.input.weights,
    baseline=baseline[0] if baseline else None,
    images=evaluation.images,
    labels=evaluation.labels,
    threads=p.threads,
    build=read_json(build_info[0]) if build_info else {},
    source=p.source,
    precision=p.precision,
    runner=runner,
)
write_record(record, snakemake.output.record)
