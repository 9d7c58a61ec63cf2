"""Write a deploy bundle's README.md from the run's records (rule bundle_readme)."""

from lprnet_opt.atomic import read_json, write_text
from lprnet_opt.deploy.readme import bundle_readme
from lprnet_opt.record import read_record
from lprnet_opt.workflow import setup_logging

setup_logging(snakemake.log[0])
i = snakemake.input
write_text(bundle_readme(read_json(i.bundle), read_record(i.eval), read_json(i.timing)), snakemake.output[0])
