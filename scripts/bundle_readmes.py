"""Write every deploy bundle's README.md from the run's records (rule bundle_readmes)."""

from lprnet_opt.atomic import read_json, write_text
from lprnet_opt.deploy.readme import bundle_readme
from lprnet_opt.record import read_record
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
i = snakemake.input
timing = read_json(i.timing)
for bundle, record, readme in zip(i.bundles, i.evals, snakemake.output, strict=True):
    write_text(bundle_readme(read_json(bundle), read_record(record), timing), readme)
