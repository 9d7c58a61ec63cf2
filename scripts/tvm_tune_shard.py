"""Tune one shard of the tasks, continuing from its cached database (rule tvm_tune_shard)."""

from lprnet_opt.tvm_tune import plan_trials, tune_shard
from lprnet_opt.workflow import read_json, setup_logging, write_json

setup_logging(snakemake.log[0])
p = snakemake.params
plan = plan_trials(read_json(snakemake.input.tasks), p.trials, p.min_trials, p.shards)
summary = tune_shard(plan, int(snakemake.wildcards.shard), p.cache, snakemake.output[0], p.seed, p.population)
write_json(summary, f"{snakemake.output[0]}/summary.json")
