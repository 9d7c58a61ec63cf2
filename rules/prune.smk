rule prune:
    input:
        weights=lambda w: source_weights(w.variant),
        split="results/data/split.json",
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
