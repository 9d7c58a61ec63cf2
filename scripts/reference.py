"""Eager fp32 predictions of one source variant's weights on the evaluation images (rule
reference), read by the accuracy job of every variant built from it."""

from lprnet_opt.data import read_split
from lprnet_opt.measure.accuracy import predict_reference, write_reference
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
evaluation = read_split(snakemake.input.split, "evaluation")
reference = predict_reference(snakemake.input.weights, evaluation.images, snakemake.params.threads)
write_reference(reference, evaluation.images, snakemake.output[0])
