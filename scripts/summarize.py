"""Join the eval records and the timing into the CSV, Markdown table, charts and HTML report (rule summarize)."""

import sys

from lprnet_opt.report.goal import Goal
from lprnet_opt.report.outputs import write_report
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
inputs, params, out = snakemake.input, snakemake.params, snakemake.output
tuning = [{**graph, "budget": params.trials} for graph in params.tuning]
write_report(inputs.evals, inputs.timing, out.csv, out.markdown, out.html, out.charts, judge_paths=inputs.judge,
             goal=Goal(**params.goal), baseline_weights=inputs.baseline,
             split=inputs.split, images=params.images, config_hash=params.config_hash, tuning=tuning,
             bundle_paths=inputs.bundles, target_summary=inputs.target[0] if inputs.target else None)
print(open(out.markdown, encoding="utf-8").read(), file=sys.stderr)
