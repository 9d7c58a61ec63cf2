"""Extract the MetaSchedule tasks of the architecture for the target (rule tvm_tasks)."""

from lprnet_opt.tvm_tune import write_tasks
from lprnet_opt.workflow import setup_logging

setup_logging(snakemake.log[0])
write_tasks(snakemake.params.target, snakemake.output[0])
