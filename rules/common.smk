from pathlib import Path

from snakemake.exceptions import WorkflowError

from lprnet_opt.config import validate_config

# Fill defaults and fail early with one line naming the bad key.
config.update(validate_config(config))
VARIANTS = config["variants"]
PACKAGE = Path(workflow.basedir) / "src" / "lprnet_opt"


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


def package_code(*modules):
    """Package modules a rule runs, as inputs, so editing them reruns the rule."""
    return [str(PACKAGE / f"{m}.py") for m in modules]


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


def weights_of(variant):
    """The fp32 state_dict a variant starts from (quantized and TVM variants use their source's)."""
    spec = VARIANTS[variant]
    if spec["kind"] == "baseline":
        return config["baseline_weights"]
    if spec["kind"] == "pruned":
        return f"results/prune/{variant}.pt"
    return weights_of(spec["source"])


def distill_plates(used=True):
    """Generated plates that distillation adds to the calibration split, when configured and used."""
    return (
        "results/data/synthetic/distill"
        if used and config["distillation"]["synthetic_plates"]
        else []
    )


def artifact_of(variant):
    kind = VARIANTS[variant]["kind"]
    if kind == "quantized":
        return f"results/quantize/{variant}.pt"
    if kind == "tvm":
        return f"results/tvm/{variant}/model.so"
    if kind in ("onnx", "openvino"):
        # One export per source weights, shared by the ONNX Runtime and OpenVINO rows.
        return f"results/onnx/{VARIANTS[variant]['source']}.onnx"
    return weights_of(variant)  # baseline, pruned, torch_compile


def build_info_of(variant):
    """The JSON a variant's build rule writes beside its artifact, if it has one."""
    kind = VARIANTS[variant]["kind"]
    folders = {"quantized": "quantize", "pruned": "prune", "tvm": "tvm"}
    if kind == "tvm":
        return [f"results/tvm/{variant}/build.json"]
    return [f"results/{folders[kind]}/{variant}.json"] if kind in folders else []


def tvm_paths():
    """Target, tuning folder and cache folder, keyed by target and architecture."""
    if not any(v["kind"] == "tvm" for v in VARIANTS.values()):
        return None, "results/tvm/tune/none", "results/tvm/cache/none"
    from lprnet_opt.tvm_setup import graph_key, resolve_target, target_key

    target = resolve_target(config["tvm"]["target"], config["threads"])
    key = f"{target_key(target)}/{graph_key(NUM_CLASSES)}"
    return target, f"results/tvm/tune/{key}", f"results/tvm/cache/{key}"


NUM_CLASSES = 68
TVM_TARGET, TUNE_DIR, TUNE_CACHE = tvm_paths()
