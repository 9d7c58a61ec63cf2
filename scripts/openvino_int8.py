"""Build one OpenVINO INT8 variant from its source's fp32 ONNX export and weights (rule openvino_int8)."""

from lprnet_opt.atomic import write_json
from lprnet_opt.checkpoint import load_model
from lprnet_opt.data import load_folder, read_split
from lprnet_opt.compress.int8_guard import GuardSettings, judge_of
from lprnet_opt.compress.openvino_quantize import build_openvino_int8
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
calibration = read_split(snakemake.input.split, "calibration")
# Judge plates: the calibration split, plus generated plates for a budget on generated images.
judge = judge_of(calibration, load_folder(snakemake.input.judge) if snakemake.input.judge else None)
info = build_openvino_int8(
    snakemake.input.onnx,
    calibration.images,
    judge,
    snakemake.params.threads,
    snakemake.output.model,
    GuardSettings(snakemake.params.min_agreement, snakemake.params.guard_fp32_layers, snakemake.params.max_drop),
    snakemake.params.scan_images,
    snakemake.params.target_isa,
    source=load_model(snakemake.input.weights),
    qdq_methods=snakemake.params.qdq_methods,
)
write_json({"source_onnx": snakemake.input.onnx, "source_weights": snakemake.input.weights, **info}, snakemake.output.info)
