"""Build one channel-pruned variant (rule channel_prune): to a fixed MAC target (`macs_ratio`) in
distillation steps, or to an accuracy budget (`max_drop`) by searching the cut first."""

import numpy as np
import torch

from lprnet_opt.atomic import write_json
from lprnet_opt.compress.channel_prune import build_channel_pruned
from lprnet_opt.compress.distill import DistillSettings
from lprnet_opt.compress.prune_search import build_to_budget
from lprnet_opt.data import load_folder, read_split
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
p = snakemake.params
torch.set_num_threads(p.threads)
# Never evaluation images: the calibration split (criterion choice, statistics, distillation,
# the search's estimate) plus generated plates (statistics and distillation; the search's
# estimate too when the evaluated images are generated ones).
calibration = read_split(snakemake.input.split, "calibration")
extra = load_folder(snakemake.input.extra) if snakemake.input.extra else None
settings = DistillSettings(**p.distill)
if p.max_drop is not None:
    info = build_to_budget(snakemake.input.weights, p.max_drop, calibration, extra, p.judge_extra, settings,
                           snakemake.output.model, exact_cut_error=p.exact_cut_error)
else:
    extra_images = extra.images if extra is not None else np.zeros((0, *calibration.images.shape[1:]), np.float32)
    info = build_channel_pruned(snakemake.input.weights, p.macs_ratio, calibration.images, extra_images, settings,
                                p.steps, snakemake.output.model, exact_cut_error=p.exact_cut_error)
write_json({"source_weights": snakemake.input.weights, **info}, snakemake.output.info)
