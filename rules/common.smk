import hashlib
import json
import math
import os
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError

from lprnet_opt import kinds
from lprnet_opt import targets
from lprnet_opt.chars import NUM_CLASSES
from lprnet_opt.codedeps import import_closure
from lprnet_opt.config import validate_config
from lprnet_opt.tvm_setup import graph_key, target_label

# Fill defaults and fail early with one line naming the bad key. Nothing read at parse time
# imports torch or TVM, or depends on the machine that parses (a login node, on SLURM).
config.update(validate_config(config))
VARIANTS = config["variants"]
PACKAGE = Path(workflow.basedir) / "src" / "lprnet_opt"
SCRIPTS = Path(workflow.basedir) / "scripts"
# Tuning folders: the config target's key ("host" for null: resolved by rule tvm_tasks), then
# one folder per graph (tvm_graph).
TUNE_ROOT = f"results/tvm/tune/{target_label(config['tvm']['target'])}"
# Shipped seed databases (tvm.warm_start: auto), one folder per CPU class; they come with the
# workflow, so they are found whatever the working directory.
SEED_ROOT = str(Path(workflow.basedir) / "data" / "tvm_seed")
FULL_GRAPH = graph_key(NUM_CLASSES)
SLIM_GRAPH = "slim_"


wildcard_constraints:
    variant="[a-z][a-z0-9_]*",
    graph="[a-z][a-z0-9_]*",


def exclusive_threads():
    """Locally, every core, so no other job runs beside a timing job; on a cluster
    the configured threads, with the node reserved by --exclusive."""
    try:
        cores = workflow.cores  # 1 under the SLURM executor
    except WorkflowError:  # raised inside a SLURM job step, where no total is set
        cores = 1
    return max(cores, config["threads"])


def cpu_claim(threads=None):
    """Cores a CPU-bound job claims from --cores: its threads (the configured ones unless
    given), scaled up when --cores exceeds this machine's cores, so that a local `--cores 8`
    on a 2-core machine never runs more threads than there are cores. Accuracy jobs running
    beside builds that way made the default run 56% slower (23.2 against 14.8 min;
    docs/timing-protocol.md). On a cluster (`workflow.cores` 1 or unset) the threads themselves.
    """
    try:
        cores = workflow.cores
    except WorkflowError:
        cores = 1
    threads = threads or config["threads"]
    machine = os.cpu_count() or cores
    return max(threads, min(cores, math.ceil(threads * cores / machine)))


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


# The calibration split alone, written by the calibration_split rule; read by all that shapes the choice.
CALIBRATION = "results/data/calibration.json"


def calibration_source():
    """The folder the calibration split comes from: its own, or the images split by hash."""
    return calibration_folder() or folder_of(config["images"], "evaluation")


def distill_plates(used=True):
    """Generated plates that distillation adds to the calibration split, when configured and used."""
    return (
        "results/data/synthetic/distill"
        if used and config["distillation"]["synthetic_plates"]
        else []
    )


def judge_plates():
    """Generated plates that join the calibration split as the judge plates, when the evaluated
    images are generated too: one set for every guard, the channel-pruning search and the goal.
    """
    return distill_plates(config["images"] == "synthetic")


def weights_of(variant):
    """The fp32 state_dict a variant is, or starts from."""
    return kinds.weights_of(variant, VARIANTS, config["baseline_weights"])


def source_weights(variant):
    """The fp32 state_dict of the variant a build starts from."""
    return weights_of(VARIANTS[variant]["source"])


def artifact_of(variant):
    return kinds.artifact_of(variant, VARIANTS, config["baseline_weights"])


def reference_predictions(variant):
    """Rule reference's predictions of the variant's fp32 source (empty for the baseline)."""
    return kinds.reference_predictions_of(variant, VARIANTS)[0]


def baseline_predictions(variant):
    """Rule reference's predictions of the baseline (empty for the baseline itself)."""
    return kinds.reference_predictions_of(variant, VARIANTS)[1]


def build_info_of(variant):
    return kinds.build_info_of(variant, VARIANTS)


def variant_param(key):
    """A per-variant config value, for rules whose kind takes it."""
    return lambda w: VARIANTS[w.variant][key]


def tvm_variants():
    return [v for v, spec in VARIANTS.items() if spec["kind"] == "tvm"]


def tvm_graph(variant):
    """A TVM variant's tuning folder: the full LPRNet's, or for weights that come from a
    channel-pruned variant, that variant's (its widths are read from its weights by tvm_tasks).
    """
    name = VARIANTS[variant]["source"]
    while True:
        spec = VARIANTS[name]
        if spec["kind"] == "channel_pruned":
            return SLIM_GRAPH + name
        if "source" not in spec:
            return FULL_GRAPH
        name = spec["source"]


def graph_weights(graph):
    """The weights whose widths a graph folder tunes; none for the full LPRNet."""
    return [] if graph == FULL_GRAPH else weights_of(graph.removeprefix(SLIM_GRAPH))


def tvm_seed_files():
    """The seed databases a shard may replay: a changed seed reruns the shards, which replay
    only what they have not replayed yet."""
    setting = config["tvm"]["warm_start"]
    if setting == "off":
        return []
    folder = SEED_ROOT if setting == "auto" else setting
    return sorted(str(p) for p in Path(folder).rglob("*") if p.is_file())


def tuning_shards(graph):
    return expand(
        f"{TUNE_ROOT}/{graph}/shard{{shard}}", shard=range(config["tvm"]["shards"])
    )


def tuning_graphs():
    """Per graph the TVM variants use: the report's label, shards, tasks and variants."""
    graphs = {}
    for variant in tvm_variants():
        graph = tvm_graph(variant)
        entry = graphs.setdefault(
            graph,
            {
                "label": f"target {target_label(config['tvm']['target'])}, {graph}",
                "shards": tuning_shards(graph),
                "tasks": f"{TUNE_ROOT}/{graph}/tasks.json",
                "variants": [],
            },
        )
        entry["variants"].append(variant)
    return list(graphs.values())


def tuning_inputs():
    """The shards' tuning databases (in trial order) and task lists, for the tuning curves."""
    graphs = tuning_graphs()
    if not graphs:
        return {}
    return {
        "shards": [s for g in graphs for s in g["shards"]],
        "tasks": [g["tasks"] for g in graphs],
    }


def images_description():
    if config["images"] == "synthetic":
        return "synthetic plates generated by rule synthetic_plates (seeds in config)"
    extra = (
        f", calibration from {config['calibration_images']}"
        if config["calibration_images"]
        else f", split by file-name hash (calibration_fraction {config['calibration_fraction']})"
    )
    return f"{config['images']}{extra}"


def config_hash():
    """A short hash of the merged, validated config: the report names the setup it shows."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# A target (config target): its bundles and checks, keyed by target; with a device, its timing.
TARGET = config["target"]
TARGET_KEY = targets.target_key(TARGET) if TARGET else None
TARGET_ROOT = f"results/target/{TARGET_KEY}"
# What a bundle is built from: the target without its device, so that setting a device reruns
# the checks (now read there) but rebuilds only the TVM bundles, compiled with the device's
# tuning (target_tuning).
TARGET_BUILD = {
    k: v
    for k, v in (TARGET or {}).items()
    if k not in ("device", "check_plates", "tune_trials")
}
TARGET_DEVICE = bool(TARGET and TARGET["device"])


# Each bundle built for the target: name -> (the host variant it comes from, precision).
TARGET_FORMS = targets.target_forms(VARIANTS, TARGET) if TARGET else {}


def host_variant(form):
    return TARGET_FORMS[form][0]


def target_tuning(form):
    """The database a TVM bundle is compiled with: tuned on the device (rule target_tune) when
    the target has one; none otherwise (TVM's default schedules, "untuned")."""
    host = host_variant(form)
    if not TARGET_DEVICE or kinds.on_target(host, VARIANTS) != "tvm":
        return []
    return [f"{TARGET_ROOT}/tune/{tvm_graph(host)}/database"]


def device_label():
    """A folder per device (SSH destination and port): what one device timed never resumes or
    seeds another's tuning."""
    device = TARGET["device"]
    return re.sub(
        r"[^A-Za-z0-9_.-]", "_", f"{device['ssh']}-{device.get('port') or 22}"
    )


def target_outputs():
    """The target's summary, which the report shows; none without a target."""
    return [f"{TARGET_ROOT}/summary.json"] if TARGET else []
