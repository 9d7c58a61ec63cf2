"""Merge the shard databases into the one the compiler reads (rule tvm_merge)."""

from lprnet_opt.atomic import write_json
from lprnet_opt.tvm.database import merge_databases
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
shards = list(snakemake.input.shards)
count = merge_databases(shards, snakemake.output[0])
write_json({"records": count, "shards": shards}, f"{snakemake.output[0]}/merge.json")
