"""Export one variant's fp32 weights to ONNX for the ONNX Runtime and OpenVINO variants (rule onnx_export)."""

from lprnet_opt.checkpoint import load_model
from lprnet_opt.onnx_export import export_onnx
from lprnet_opt.rewrites import fp32_graph
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
export_onnx(fp32_graph(load_model(snakemake.input.weights)), snakemake.output[0])
