# Every variant timed side by side in one job, after all are built: ratios come from one run
# on one machine (one exclusive node under SLURM), never from jobs minutes apart.


rule timing:
    input:
        artifacts=[artifact_of(v) for v in VARIANTS],
        bundles=expand("results/deploy/{variant}/predict.py", variant=VARIANTS),
        split=CALIBRATION,
        code=package_code("timing.py", *sorted({runtime_code(v) for v in VARIANTS})),
    output:
        report(
            "results/timing.json",
            caption="../report/timing_json.rst",
            category="2. Numbers",
        ),
    log:
        "logs/timing/timing.log",
    benchmark:
        "benchmarks/timing/timing.tsv"
    # No other job may run while variants are timed.
    threads: exclusive_threads()
    resources:
        mem_mb=4000,
        runtime=60,
        slurm_extra="'--exclusive'",
    params:
        artifacts={
            v: [kinds.kind_of(v, VARIANTS).runtime, artifact_of(v)] for v in VARIANTS
        },
        # Each variant runs through its bundle's predict.py, which is also timed end to end.
        bundles={v: f"results/deploy/{v}" for v in VARIANTS},
        eager="baseline",
        onnxruntime=kinds.onnxruntime_peer(VARIANTS),
        threads=config["threads"],
        # Throughput in every round only when the goal ranks by it.
        settings={
            **config["timing"],
            "throughput_rounds": (
                "all" if config["goal"]["objective"] == "throughput" else "first"
            ),
        },
    script:
        "../scripts/timing.py"
