"""Tune one shard of the tasks, continuing from its cached database (rule tvm_tune_shard)."""

import logging

from lprnet_opt.atomic import read_json, write_json
from lprnet_opt.tvm.plan import plan_trials
from lprnet_opt.tvm.seed import choose_seed
from lprnet_opt.tvm_setup import cache_folder, check_node
from lprnet_opt.tvm.tune import tune_shard
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
p = snakemake.params
tasks = read_json(snakemake.input.tasks)
check_node(tasks, snakemake.input.tasks)
warm_start, why = choose_seed(p.warm_start, snakemake.input.seeds, tasks)
logging.getLogger("lprnet_opt").info("warm start: %s", why)
shard = int(snakemake.wildcards.shard)
plan = plan_trials(tasks, p.trials, p.min_trials, p.shards)
summary = tune_shard(plan, shard, cache_folder(p.cache_root, tasks, shard), snakemake.output[0], p.seed,
                     p.population, warm_start, p.seed_traces, p.cost_model)
write_json({**summary, "warm_start": why}, f"{snakemake.output[0]}/summary.json")
