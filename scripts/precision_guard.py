"""Check one non-f32 variant (bf16) against its fp32 source on the judge plates (rule precision_guard)."""

from lprnet_opt.atomic import write_json
from lprnet_opt.compress.int8_guard import judge_of
from lprnet_opt.compress.precision_guard import check_precision
from lprnet_opt.data import load_folder, read_split
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
calibration = read_split(snakemake.input.split, "calibration")
# Judge plates: the calibration split, plus generated plates for a budget on generated images.
judge = judge_of(calibration, load_folder(snakemake.input.judge) if snakemake.input.judge else None)
p = snakemake.params
record = check_precision(p.runtime, snakemake.input.artifact, p.precision, snakemake.input.weights, judge, p.threads,
                         p.min_agreement, p.max_drop)
write_json(record, snakemake.output[0])
