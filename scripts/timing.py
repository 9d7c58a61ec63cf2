"""Time every variant side by side, each alone in its own process, through its deploy bundle (rule timing)."""

import tempfile
from pathlib import Path

import numpy as np

from lprnet_opt.atomic import read_json, write_json
from lprnet_opt.data import read_image
from lprnet_opt.measure.side_by_side import TimingSettings, timing_record
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
p = snakemake.params
settings = TimingSettings(threads=p.threads, **p.settings)
# One calibration plate, the same for every runtime; it is only timed, never scored (and never an
# evaluation image, which would make new evaluation images retime). End to end, the bundles read it.
image = Path(read_json(snakemake.input.split)["calibration"][0])
with tempfile.TemporaryDirectory() as scratch:
    sample = Path(scratch) / "sample.npy"
    np.save(sample, read_image(image)[None])
    record = timing_record({v: tuple(a) for v, a in p.artifacts.items()}, sample, settings, p.eager, p.onnxruntime,
                           bundles=p.bundles, image=image)
write_json(record, snakemake.output[0])
