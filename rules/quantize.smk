rule quantize:
    input:
        weights=lambda w: weights_of(VARIANTS[w.variant]["source"]),
        split="results/data/split.json",
        code=package_code("quantize", "prune", "model"),
    output:
        model="results/quantize/{variant}.pt",
        info="results/quantize/{variant}.json",
    params:
        max_fp32_layers=config["quantization"]["max_fp32_layers"],
        scan_images=config["quantization"]["scan_images"],
    threads: workflow.cores
    resources:
        mem_mb=4000,
        runtime=60,
    log:
        "logs/quantize/{variant}.log",
    benchmark:
        "benchmarks/quantize/{variant}.tsv"
    script:
        "../scripts/quantize.py"
