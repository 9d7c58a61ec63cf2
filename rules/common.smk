from pathlib import Path

from snakemake.exceptions import WorkflowError

from lprnet_opt import kinds
from lprnet_opt.chars import NUM_CLASSES
from lprnet_opt.codedeps import import_closure
from lprnet_opt.config import validate_config
from lprnet_opt.tvm.setup import graph_key, target_label

# Fill defaults and fail early with one line naming the bad key. Nothing read at parse time
# imports torch or TVM, or depends on the machine that parses (a login node, on SLURM).
config.update(validate_config(config))
VARIANTS = config["variants"]
PACKAGE = Path(workflow.basedir) / "src" / "lprnet_opt"
SCRIPTS = Path(workflow.basedir) / "scripts"
# Tuning folder: the config target's key ("host" for null: resolved by rule tvm_tasks).
TUNE_DIR = (
    f"results/tvm/tune/{target_label(config['tvm']['target'])}/{graph_key(NUM_CLASSES)}"
)


wildcard_constraints:
    variant="[a-z][a-z0-9_]*",


def exclusive_threads():
    """Locally, every core, so no other job runs beside a timing job; on a cluster
    the configured threads, with the node reserved by --exclusive."""
    try:
        cores = workflow.cores  # 1 under the SLURM executor
    except WorkflowError:  # raised inside a SLURM job step, where no total is set
        cores = 1
    return max(cores, config["threads"])


def package_code(script, *modules):
    """The package modules a rule's script imports (read from source), and `modules`
    (with theirs) that it picks at run time: editing one reruns exactly its rules."""
    entries = [SCRIPTS / script] + [PACKAGE / f"{m}.py" for m in modules]
    files = {PACKAGE / f"{m}.py" for m in modules}
    for entry in entries:
        files.update(import_closure(entry, PACKAGE))
    return sorted(str(f) for f in files)


def runtime_code(variant):
    """The runtime module that loads a variant, picked by name from the kind registry."""
    return f"runtimes/{kinds.kind_of(variant, VARIANTS).runtime}"


def folder_of(setting, part):
    """An image folder from config, or the synthetic part the workflow generates."""
    return f"results/data/synthetic/{part}" if setting == "synthetic" else setting


def calibration_folder():
    """The separate calibration folder, or [] when the split comes from one folder by hash."""
    if config["calibration_images"]:
        return folder_of(config["calibration_images"], "calibration")
    return (
        folder_of("synthetic", "calibration") if config["images"] == "synthetic" else []
    )


def distill_plates(used=True):
    """Generated plates that distillation adds to the calibration split, when configured and used."""
    return (
        "results/data/synthetic/distill"
        if used and config["distillation"]["synthetic_plates"]
        else []
    )


def weights_of(variant):
    """The fp32 state_dict a variant is, or starts from."""
    return kinds.weights_of(variant, VARIANTS, config["baseline_weights"])


def source_weights(variant):
    """The fp32 state_dict of the variant a build starts from."""
    return weights_of(VARIANTS[variant]["source"])


def artifact_of(variant):
    return kinds.artifact_of(variant, VARIANTS, config["baseline_weights"])


def reference_of(variant):
    return kinds.reference_of(variant, VARIANTS, config["baseline_weights"])


def build_info_of(variant):
    return kinds.build_info_of(variant, VARIANTS)


def variant_param(key):
    """A per-variant config value, for rules whose kind takes it."""
    return lambda w: VARIANTS[w.variant][key]
