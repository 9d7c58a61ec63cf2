"""Tune one shard of the tasks, continuing from its cached database (rule tvm_tune_shard)."""

from lprnet_opt.atomic import read_json
from lprnet_opt.tvm.tune import tune_planned_shard
from lprnet_opt.tvm_setup import check_node
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
p = snakemake.params
tasks = read_json(snakemake.input.tasks)
check_node(tasks, snakemake.input.tasks)
tune_planned_shard(tasks, int(snakemake.wildcards.shard), p.shards, p.cache_root, snakemake.output[0],
                   list(snakemake.input.seeds), p.trials, p.min_trials, p.seed, p.population, p.warm_start,
                   p.seed_traces, p.cost_model)
