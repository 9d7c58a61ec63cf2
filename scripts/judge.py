"""Which judge plates one variant reads through its own runtime (rule judge): the goal's choice
pairs these with the baseline's, and never sees an evaluation plate."""

from lprnet_opt.atomic import read_json, write_json
from lprnet_opt.compress.int8_guard import judge_of
from lprnet_opt.data import load_folder, read_split
from lprnet_opt.kinds import KINDS
from lprnet_opt.measure.plates import judge_reading, reading_batch
from lprnet_opt.runtimes import load_runner
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
p = snakemake.params
build_info = list(snakemake.input.build_info)  # empty for kinds without a build rule
build = read_json(build_info[0]) if build_info else {}
# The judge plates: the calibration split, plus the generated plates when the images are generated.
judge = judge_of(read_split(snakemake.input.split, "calibration"),
                 load_folder(snakemake.input.judge) if snakemake.input.judge else None)
runner = load_runner(KINDS[p.kind].runtime, snakemake.input.artifact, p.threads, p.precision)
reading = judge_reading(snakemake.wildcards.variant, runner, judge.images, judge.labels, judge.judged_on,
                        fit=bool(build.get("fit", True)), exact=p.exact, batch_size=reading_batch(KINDS[p.kind].runtime))
write_json(reading, snakemake.output[0])
