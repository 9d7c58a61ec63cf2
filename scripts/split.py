"""Write the audited calibration/evaluation split (rule split)."""

from lprnet_opt.atomic import write_json
from lprnet_opt.data import make_split
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
split = make_split(snakemake.input.images, snakemake.params.calibration_images, snakemake.params.fraction)
write_json(split, snakemake.output[0])
