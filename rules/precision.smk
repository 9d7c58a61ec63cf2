# A variant run in a reduced float precision (bf16) is checked against its fp32 source on the
# judge plates, and the precision that ran is read back from the compiled model (README, "bf16").
rule precision_guard:
    input:
        artifact=lambda w: artifact_of(w.variant),
        weights=lambda w: weights_of(w.variant),
        split=CALIBRATION,
        judge=judge_plates(),
        code=lambda w: package_code("precision_guard.py", runtime_code(w.variant)),
    output:
        kinds.PRECISION_CHECK,
    log:
        "logs/precision_guard/{variant}.log",
    benchmark:
        "benchmarks/precision_guard/{variant}.tsv"
    threads: cpu_claim()
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        runtime=lambda w: kinds.kind_of(w.variant, VARIANTS).runtime,
        precision=lambda w: kinds.precision_of(w.variant, VARIANTS),
        threads=config["threads"],
        min_agreement=config["quantization"]["min_agreement"],
        max_drop=lambda w: VARIANTS[w.variant].get("max_drop"),
    script:
        "../scripts/precision_guard.py"
