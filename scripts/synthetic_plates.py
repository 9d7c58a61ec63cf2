"""Generate one synthetic plate folder (rule synthetic_plates)."""

from lprnet_opt.synth import write_synthetic_folder
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
write_synthetic_folder(snakemake.output[0], snakemake.params.plates, snakemake.params.seed)
