# lprnet-opt: optimized LPRNet variants, measured the same way, in one report.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/prune.smk"
include: "rules/quantize.smk"
include: "rules/tvm.smk"
include: "rules/onnx.smk"
include: "rules/precision.smk"
include: "rules/evaluate.smk"
include: "rules/deploy.smk"
include: "rules/timing.smk"
include: "rules/report.smk"


if TARGET:

    include: "rules/target.smk"


localrules:
    bundle_readmes,
    report,
    summarize,
    tvm_merge,


rule report:
    default_target: True
    input:
        rules.summarize.output,
