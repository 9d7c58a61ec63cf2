"""Train LPRNet with CTC on synthetic plates (rule train_baseline)."""

from lprnet_opt.atomic import write_json
from lprnet_opt.checkpoint import save_checkpoint
from lprnet_opt.data import load_folder
from lprnet_opt.train import TrainSettings, train_ctc
from lprnet_opt.workflow import setup_job

setup_job(snakemake.log[0])
settings = TrainSettings(threads=snakemake.params.threads, **snakemake.params.training)
model, history = train_ctc(load_folder(snakemake.input.train), load_folder(snakemake.input.validation), settings)
save_checkpoint(model, snakemake.output.weights)
write_json({"settings": snakemake.params.training, "history": history}, snakemake.output.history)
