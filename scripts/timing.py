"""Time every variant side by side, each alone in its own process (rule timing)."""

import tempfile
from pathlib import Path

import numpy as np

from lprnet_opt.atomic import write_json
from lprnet_opt.data import read_split
from lprnet_opt.measure.side_by_side import TimingSettings, timing_record
from lprnet_opt.workflow import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
settings = TimingSettings(threads=p.threads, **p.settings)
with tempfile.TemporaryDirectory() as scratch:
    # One real plate, the same for every runtime; it is only timed, never scored.
    sample = Path(scratch) / "sample.npy"
    np.save(sample, read_split(snakemake.input.split, "evaluation").images[:1])
    record = timing_record({v: tuple(a) for v, a in p.artifacts.items()}, sample, settings, p.eager, p.onnxruntime)
write_json(record, snakemake.output[0])
