"""Join the eval records and the timing into the CSV, Markdown table, charts and HTML report (rule summarize)."""

import sys

from lprnet_opt.report import write_report
from lprnet_opt.workflow import setup_logging

setup_logging(snakemake.log[0])
out = snakemake.output
write_report(snakemake.input.evals, snakemake.input.timing, out.csv, out.markdown, out.html, out.charts)
print(open(out.markdown, encoding="utf-8").read(), file=sys.stderr)
