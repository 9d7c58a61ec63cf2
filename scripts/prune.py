"""Build one pruned variant: global L1 pruning, then distillation (rule prune)."""

import numpy as np
import torch

from lprnet_opt.atomic import write_json
from lprnet_opt.data import load_folder, read_split
from lprnet_opt.compress.distill import DistillSettings
from lprnet_opt.compress.prune import build_pruned
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
torch.set_num_threads(snakemake.params.threads)
# Never evaluation images: the calibration split plus generated plates (labels unused).
parts = [read_split(snakemake.input.split, "calibration").images]
parts += [load_folder(snakemake.input.extra).images] if snakemake.input.extra else []
settings = DistillSettings(**snakemake.params.distill)
info = build_pruned(snakemake.input.weights, snakemake.params.ratio, np.concatenate(parts), settings, snakemake.output.model)
write_json({"source_weights": snakemake.input.weights, **info}, snakemake.output.info)
