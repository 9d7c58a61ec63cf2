"""Merge the shard databases into the one the compiler reads (rule tvm_merge)."""

from lprnet_opt.tvm_tune import merge_databases
from lprnet_opt.workflow import setup_logging, write_json

setup_logging(snakemake.log[0])
count = merge_databases(list(snakemake.input), snakemake.output[0])
write_json({"records": count, "shards": list(snakemake.input)}, f"{snakemake.output[0]}/merge.json")
