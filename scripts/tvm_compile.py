"""Compile one variant's weights with the tuned database into a .so (rule tvm_compile)."""

from lprnet_opt.atomic import read_json, write_json
from lprnet_opt.checkpoint import load_model
from lprnet_opt.data import read_split
from lprnet_opt.tvm.compile import compile_and_verify
from lprnet_opt.tvm_setup import check_node
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
tasks = read_json(snakemake.input.tasks)
check_node(tasks, snakemake.input.tasks)
calibration = read_split(snakemake.input.split, "calibration")
model = load_model(snakemake.input.weights)
if model.widths.key() != tasks["widths"]:
    raise ValueError(f"{snakemake.input.weights}: widths {model.widths.key()} differ from those tuned in "
                     f"{snakemake.input.tasks} ({tasks['widths']})")
info = compile_and_verify(model, tasks["target"], snakemake.input.database,
                          snakemake.output.library, calibration.images, snakemake.params.threads)
write_json({"source_weights": snakemake.input.weights, **info}, snakemake.output.info)
