"""Build one PT2E INT8 variant from its source weights (rule quantize)."""

import torch

from lprnet_opt.atomic import write_json
from lprnet_opt.checkpoint import load_model
from lprnet_opt.data import load_folder, read_split
from lprnet_opt.compress.int8_guard import GuardSettings, judge_of
from lprnet_opt.compress.quantize import build_quantized
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
torch.set_num_threads(snakemake.params.threads)
calibration = read_split(snakemake.input.split, "calibration")
# Judge plates: the calibration split, plus generated plates for a budget on generated images.
judge = judge_of(calibration, load_folder(snakemake.input.judge) if snakemake.input.judge else None)
info = build_quantized(
    lambda: load_model(snakemake.input.weights),
    calibration.images,
    judge,
    snakemake.params.max_fp32_layers,
    snakemake.params.scan_images,
    snakemake.params.threads,
    snakemake.output.model,
    GuardSettings(snakemake.params.min_agreement, snakemake.params.guard_fp32_layers, snakemake.params.max_drop),
    snakemake.params.target_isa,
)
write_json({"source_weights": snakemake.input.weights, **info}, snakemake.output.info)
