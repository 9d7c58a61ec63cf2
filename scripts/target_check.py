"""Read a sample of plates with one target bundle under qemu-user, as the target's CPU (rule target_check)."""

from pathlib import Path

from lprnet_opt.atomic import read_json, write_json
from lprnet_opt.cross.check import check_bundle
from lprnet_opt.data import list_images
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
p, i = snakemake.params, snakemake.input
# The judge plates in the order the judge readings hold them: the calibration split, then the
# generated plates when the images are generated (compress/int8_guard.judge_of).
judge_paths = read_json(i.calibration)["calibration"] + ([str(f) for f in list_images(i.judge)] if i.judge else [])
record = check_bundle(snakemake.wildcards.variant, Path(i.predict).parent, dict(p.target), p.userland, p.threads,
                      evaluation_paths=read_json(i.split)["evaluation"], host_plates=read_json(i.host_eval)["plates"],
                      judge_paths=judge_paths, baseline_judge_correct=read_json(i.baseline_judge)["correct"],
                      source_weights=i.source, sample=p.sample, min_agreement=p.min_agreement, max_drop=p.max_drop,
                      exact=p.fp32_form)
write_json(record, snakemake.output[0])
