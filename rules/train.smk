rule train_baseline:
    input:
        train="results/data/synthetic/train",
        validation="results/data/synthetic/validation",
        code=package_code("train_baseline.py"),
    output:
        weights="results/train/baseline.pth",
        history="results/train/history.json",
    log:
        "logs/train_baseline/train_baseline.log",
    benchmark:
        "benchmarks/train_baseline/train_baseline.tsv"
    threads: cpu_claim()
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        threads=config["threads"],
        training=config["training"],
    script:
        "../scripts/train_baseline.py"
