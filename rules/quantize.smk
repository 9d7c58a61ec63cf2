rule quantize:
    input:
        weights=lambda w: source_weights(w.variant),
        split="results/data/split.json",
        extra=distill_plates(config["quantization"]["finetune_epochs"] > 0),
        code=package_code("quantize.py"),
    output:
        model="results/quantize/{variant}.pt",
        info="results/quantize/{variant}.json",
    log:
        "logs/quantize/{variant}.log",
    benchmark:
        "benchmarks/quantize/{variant}.tsv"
    threads: cpu_claim()
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        threads=config["threads"],
        max_fp32_layers=config["quantization"]["max_fp32_layers"],
        scan_images=config["quantization"]["scan_images"],
        finetune={
            "epochs": config["quantization"]["finetune_epochs"],
            "learning_rate": config["quantization"]["finetune_learning_rate"],
            "batch_size": config["distillation"]["batch_size"],
            "temperature": config["distillation"]["temperature"],
            "seed": config["distillation"]["seed"],
        },
    script:
        "../scripts/quantize.py"
