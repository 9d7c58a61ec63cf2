"""Export one variant's fp32 weights to ONNX for the ONNX Runtime and OpenVINO peer rows (rule onnx_export)."""

from lprnet_opt.peers import export_onnx
from lprnet_opt.prune import load_pruned_or_dense
from lprnet_opt.workflow import setup_logging

setup_logging(snakemake.log[0])
export_onnx(load_pruned_or_dense(snakemake.input.weights), snakemake.output[0])
