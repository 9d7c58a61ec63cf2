"""The target's summary: bundles checked on its numerics, those not built, and the device's answer or that nothing was timed (rule target_summary)."""

from lprnet_opt.atomic import read_json, write_json, write_text
from lprnet_opt.cross.readme import target_readme
from lprnet_opt.cross.summary import summary_markdown, target_summary
from lprnet_opt.report.goal import Goal
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
i, p = snakemake.input, snakemake.params
summary = target_summary(dict(p.target), list(i.checks), list(i.bundles), dict(p.not_built),
                         timing_path=i.timing[0] if i.timing else None, goal=Goal(**p.goal))
write_json(summary, snakemake.output.summary)
write_text(summary_markdown(summary), snakemake.output.markdown)
for row, bundle, readme in zip(summary["checked"], i.bundles, snakemake.output.readmes, strict=True):
    write_text(target_readme(row, read_json(bundle), summary), readme)
