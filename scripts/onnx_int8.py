"""Build one ONNX Runtime INT8 variant from its source weights (rule onnx_int8)."""

from lprnet_opt.atomic import write_json
from lprnet_opt.checkpoint import load_model
from lprnet_opt.data import load_folder, read_split
from lprnet_opt.compress.int8_guard import GuardSettings, judge_of
from lprnet_opt.compress.onnx_quantize import build_onnx_int8
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
calibration = read_split(snakemake.input.split, "calibration")
# Judge plates: the calibration split, plus generated plates for a budget on generated images.
judge = judge_of(calibration, load_folder(snakemake.input.judge) if snakemake.input.judge else None)
info = build_onnx_int8(
    load_model(snakemake.input.weights),
    calibration.images,
    judge,
    max_fp32_layers=snakemake.params.max_fp32_layers,
    scan_images=snakemake.params.scan_images,
    threads=snakemake.params.threads,
    path=snakemake.output.model,
    guard=GuardSettings(snakemake.params.min_agreement, snakemake.params.guard_fp32_layers, snakemake.params.max_drop),
    target_isa=snakemake.params.target_isa,
    methods=snakemake.params.calibration_methods,
    activation_scan=snakemake.params.activation_scan,
    equalize=snakemake.params.equalize,
)
write_json({"source_weights": snakemake.input.weights, **info}, snakemake.output.info)
