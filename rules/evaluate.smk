rule reference:
    input:
        weights=lambda w: weights_of(w.variant),
        split="results/data/split.json",
        code=package_code("reference.py"),
    output:
        "results/reference/{variant}.npz",
    log:
        "logs/reference/{variant}.log",
    benchmark:
        "benchmarks/reference/{variant}.tsv"
    threads: cpu_claim()
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        threads=config["threads"],
    script:
        "../scripts/reference.py"


rule measure:
    input:
        artifact=lambda w: artifact_of(w.variant),
        reference=lambda w: reference_predictions(w.variant),
        weights=lambda w: weights_of(w.variant),
        baseline=lambda w: baseline_predictions(w.variant),
        split="results/data/split.json",
        build_info=lambda w: build_info_of(w.variant),
        # The goal's judge plates besides the calibration split (README, "The goal").
        judge=distill_plates(config["images"] == "synthetic"),
        code=lambda w: package_code("measure.py", runtime_code(w.variant)),
    output:
        record="results/eval/{variant}.json",
        judge="results/judge/{variant}.json",
    log:
        "logs/measure/{variant}.log",
    benchmark:
        "benchmarks/measure/{variant}.tsv"
    # Accuracy only: nothing is timed, so it runs beside builds and other evaluations.
    threads: cpu_claim()
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        threads=config["threads"],
        kind=lambda w: VARIANTS[w.variant]["kind"],
        source=lambda w: VARIANTS[w.variant].get("source"),
        precision=lambda w: kinds.precision_of(w.variant, VARIANTS),
    script:
        "../scripts/measure.py"
