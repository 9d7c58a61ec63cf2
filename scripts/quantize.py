"""Build one PT2E INT8 variant from its source weights (rule quantize)."""

import torch

from lprnet_opt.atomic import write_json
from lprnet_opt.checkpoint import load_model
from lprnet_opt.data import read_split
from lprnet_opt.compress.int8_guard import GuardSettings
from lprnet_opt.compress.quantize import build_quantized
from lprnet_opt.workflow import setup_logging

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.params.threads)
calibration = read_split(snakemake.input.split, "calibration")
info = build_quantized(
    lambda: load_model(snakemake.input.weights),
    calibration.images,
    snakemake.params.max_fp32_layers,
    snakemake.params.scan_images,
    snakemake.params.threads,
    snakemake.output.model,
    GuardSettings(snakemake.params.min_agreement, snakemake.params.guard_fp32_layers),
    snakemake.params.target_isa,
)
write_json({"source_weights": snakemake.input.weights, **info}, snakemake.output.info)
