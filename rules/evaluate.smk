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
        code=lambda w: package_code("measure.py", runtime_code(w.variant)),
    output:
        record="results/eval/{variant}.json",
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


# Which judge plates a variant reads through its own runtime, for the goal's choice: it reads
# the calibration split alone, so evaluation images never rerun it (README, "The goal").
rule judge:
    input:
        artifact=lambda w: artifact_of(w.variant),
        split=CALIBRATION,
        build_info=lambda w: build_info_of(w.variant),
        judge=judge_plates(),
        code=lambda w: package_code("judge.py", runtime_code(w.variant)),
    output:
        "results/judge/{variant}.json",
    log:
        "logs/judge/{variant}.log",
    benchmark:
        "benchmarks/judge/{variant}.tsv"
    threads: cpu_claim()
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        threads=config["threads"],
        kind=lambda w: VARIANTS[w.variant]["kind"],
        precision=lambda w: kinds.precision_of(w.variant, VARIANTS),
        exact=lambda w: kinds.is_exact(w.variant, VARIANTS),
    script:
        "../scripts/judge.py"
