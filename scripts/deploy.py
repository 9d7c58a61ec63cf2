"""Build one variant's deploy bundle from its artifact (rule deploy)."""

from lprnet_opt.deploy.bundle import build_bundle
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
out = snakemake.output
build_bundle(snakemake.wildcards.variant, snakemake.params.kind, snakemake.input.artifact, snakemake.params.threads,
             model_folder=out.model, predict_path=out.predict, requirements_path=out.requirements,
             record_path=out.bundle, precision=snakemake.params.precision)
