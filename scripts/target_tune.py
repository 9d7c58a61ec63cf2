"""Tune one graph for the target, every candidate timed on its device (rule target_tune)."""

from lprnet_opt.atomic import read_json
from lprnet_opt.cross.device import Device
from lprnet_opt.cross.rpc import tune_on_device
from lprnet_opt.targets import resolve
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
p = snakemake.params
arch, _ = resolve(p.target)
tune_on_device(read_json(snakemake.input.tasks), Device.of(p.target), arch.compiler, p.cache_root, snakemake.output[0],
               p.trials, p.min_trials, p.seed, p.population, p.warm_start, list(snakemake.input.seeds), p.seed_traces,
               p.cost_model)
