"""Build one channel-pruned variant: MAC-targeted filter removal with distillation steps (rule channel_prune)."""

import numpy as np
import torch

from lprnet_opt.atomic import write_json
from lprnet_opt.compress.channel_prune import build_channel_pruned
from lprnet_opt.data import load_folder, read_split
from lprnet_opt.compress.distill import DistillSettings
from lprnet_opt.workflow import setup_logging

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.params.threads)
# Never evaluation images: the calibration split (criterion choice, statistics, distillation)
# plus generated plates (statistics and distillation; labels unused).
calibration = read_split(snakemake.input.split, "calibration").images
extra = load_folder(snakemake.input.extra).images if snakemake.input.extra else np.zeros((0, *calibration.shape[1:]), np.float32)
info = build_channel_pruned(snakemake.input.weights, snakemake.params.macs_ratio, calibration, extra,
                            DistillSettings(**snakemake.params.distill), snakemake.params.steps, snakemake.output.model,
                            exact_cut_error=snakemake.params.exact_cut_error)
write_json({"source_weights": snakemake.input.weights, **info}, snakemake.output.info)
