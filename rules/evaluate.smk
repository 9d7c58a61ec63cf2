rule measure:
    input:
        artifact=lambda w: artifact_of(w.variant),
        reference=lambda w: reference_of(w.variant),
        weights=lambda w: weights_of(w.variant),
        baseline=config["baseline_weights"],
        split="results/data/split.json",
        build_info=lambda w: build_info_of(w.variant),
        code=lambda w: package_code("measure.py", runtime_code(w.variant)),
    output:
        "results/eval/{variant}.json",
    log:
        "logs/measure/{variant}.log",
    benchmark:
        "benchmarks/measure/{variant}.tsv"
    # No other job may run while this one times its variant.
    threads: exclusive_threads()
    resources:
        mem_mb=4000,
        runtime=60,
        slurm_extra="'--exclusive'",
    params:
        kind=lambda w: VARIANTS[w.variant]["kind"],
        threads=config["threads"],
        measure=config["measure"],
    script:
        "../scripts/measure.py"
