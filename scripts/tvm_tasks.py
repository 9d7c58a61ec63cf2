"""Resolve the TVM target on this node and extract one architecture's tuning tasks (rules tvm_tasks
and target_tvm_tasks, whose target is the device's).

The full LPRNet's tasks need no weights; a channel-pruned graph's widths come from its weights.
"""

from lprnet_opt.checkpoint import load_model
from lprnet_opt.model import DENSE
from lprnet_opt.tvm.tune import write_tasks
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
widths = load_model(snakemake.input.weights).widths if snakemake.input.weights else DENSE
write_tasks(snakemake.params.target, snakemake.params.threads, snakemake.output[0], widths,
            on_device=snakemake.params.on_device)
