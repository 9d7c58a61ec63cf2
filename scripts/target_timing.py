"""Time every target bundle side by side on the target's device, over SSH (rule target_timing)."""

from pathlib import Path

from lprnet_opt.atomic import read_json, write_json
from lprnet_opt.cross.device_timing import time_on_device
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
p = snakemake.params
# One calibration plate, as the host's timing stage reads (scripts/timing.py).
image = Path(read_json(snakemake.input.split)["calibration"][0])
record = time_on_device(dict(p.target), {v: tuple(b) for v, b in p.bundles.items()}, image, dict(p.settings),
                        p.reference)
write_json(record, snakemake.output[0])
