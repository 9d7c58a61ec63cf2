"""Write the calibration split alone, every image read (rule calibration_split)."""

from lprnet_opt.atomic import write_json
from lprnet_opt.data import make_calibration
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
p = snakemake.params
write_json(make_calibration(snakemake.input.images, snakemake.input.images if p.calibration_images else None,
                            p.fraction), snakemake.output[0])
