"""The target's summary: bundles checked under emulation, those not built, nothing timed (rule target_summary)."""

from lprnet_opt.atomic import write_json, write_text
from lprnet_opt.cross.summary import summary_markdown, target_summary
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
summary = target_summary(dict(snakemake.params.target), list(snakemake.input.checks), list(snakemake.input.bundles),
                         dict(snakemake.params.not_built))
write_json(summary, snakemake.output.summary)
write_text(summary_markdown(summary), snakemake.output.markdown)
