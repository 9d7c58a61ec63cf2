rule prune:
    input:
        weights=lambda w: source_weights(w.variant),
        split=CALIBRATION,
        extra=distill_plates(),
        code=package_code("prune.py"),
    output:
        model="results/prune/{variant}.pt",
        info="results/prune/{variant}.json",
    log:
        "logs/prune/{variant}.log",
    benchmark:
        "benchmarks/prune/{variant}.tsv"
    threads: cpu_claim()
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        threads=config["threads"],
        ratio=variant_param("ratio"),
        distill={
            k: v for k, v in config["distillation"].items() if k != "synthetic_plates"
        },
    script:
        "../scripts/prune.py"


rule channel_prune:
    input:
        weights=lambda w: source_weights(w.variant),
        split=CALIBRATION,
        extra=distill_plates(),
        code=package_code("channel_prune.py"),
    output:
        model="results/channel_prune/{variant}.pt",
        info="results/channel_prune/{variant}.json",
    log:
        "logs/channel_prune/{variant}.log",
    benchmark:
        "benchmarks/channel_prune/{variant}.tsv"
    threads: cpu_claim()
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        threads=config["threads"],
        # One of the two (kinds.py): a fixed cut, or the accuracy budget the cut is searched for.
        macs_ratio=lambda w: VARIANTS[w.variant].get("macs_ratio"),
        max_drop=lambda w: VARIANTS[w.variant].get("max_drop"),
        # Generated plates judge the search only when the evaluated images are generated too.
        judge_extra=config["images"] == "synthetic",
        steps=config["channel_pruning"]["steps"],
        exact_cut_error=config["channel_pruning"]["exact_cut_error"],
        distill={
            k: v for k, v in config["distillation"].items() if k != "synthetic_plates"
        },
    script:
        "../scripts/channel_prune.py"
