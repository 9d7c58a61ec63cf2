"""Compile one variant's weights with the tuned database into a .so (rule tvm_compile)."""

from lprnet_opt.data import read_split
from lprnet_opt.prune import load_pruned_or_dense
from lprnet_opt.tvm_compile import compile_and_verify
from lprnet_opt.workflow import setup_logging, write_json

setup_logging(snakemake.log[0])
calibration = read_split(snakemake.input.split, "calibration")
info = compile_and_verify(load_pruned_or_dense(snakemake.input.weights), snakemake.params.target,
                          snakemake.input.database, snakemake.output.library, calibration.images, snakemake.threads)
write_json({"source_weights": snakemake.input.weights, **info}, snakemake.output.info)
