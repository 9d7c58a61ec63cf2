"""Build one variant's bundle for the config's target (rule target_bundle)."""

from lprnet_opt.cross.bundle import build_target_bundle
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
p, out = snakemake.params, snakemake.output
build_target_bundle(snakemake.wildcards.variant, p.host, p.kind, p.how, snakemake.input.artifact, snakemake.input.weights,
                    dict(p.target), p.threads, p.precision, model_folder=out.model, predict_path=out.predict,
                    requirements_path=out.requirements, record_path=out.bundle,
                    database=snakemake.input.database or None)
