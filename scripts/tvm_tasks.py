"""Resolve the TVM target on this node and extract the architecture's tuning tasks (rule tvm_tasks)."""

from lprnet_opt.tvm.tune import write_tasks
from lprnet_opt.workflow import setup_logging

setup_logging(snakemake.log[0])
write_tasks(snakemake.params.target, snakemake.params.threads, snakemake.output[0])
