# Tuning is keyed by target and architecture; it never depends on weight values, so all
# TVM variants (mlc, pruned_mlc, ...) share one database and pruning never retunes.


rule tvm_tasks:
    input:
        code=package_code(
            "tvm_tune", "tvm_compile", "tvm_setup", "export_rewrites", "model"
        ),
    output:
        f"{TUNE_DIR}/tasks.json",
    log:
        "logs/tvm_tasks/tasks.log",
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        target=TVM_TARGET,
    script:
        "../scripts/tvm_tasks.py"


rule tvm_tune_shard:
    input:
        tasks=f"{TUNE_DIR}/tasks.json",
    output:
        directory(f"{TUNE_DIR}/shard{{shard}}"),
    log:
        "logs/tvm_tune_shard/shard{shard}.log",
    benchmark:
        "benchmarks/tvm_tune_shard/shard{shard}.tsv"
    wildcard_constraints:
        shard=r"\d+",
    # Tuning times candidates on this machine: like timing jobs, it runs alone.
    threads: exclusive_threads()
    resources:
        mem_mb=4000,
        # Minutes; a retried job gets more time.
        runtime=lambda w, attempt: 60 * attempt,
        slurm_extra="'--exclusive'",
    params:
        cache=lambda w: f"{TUNE_CACHE}/shard{w.shard}",
        trials=config["tvm"]["trials"],
        min_trials=config["tvm"]["min_trials_per_task"],
        shards=config["tvm"]["shards"],
        seed=config["tvm"]["seed"],
        population=config["tvm"]["population"],
    script:
        "../scripts/tvm_tune_shard.py"


rule tvm_merge:
    input:
        expand(f"{TUNE_DIR}/shard{{shard}}", shard=range(config["tvm"]["shards"])),
    output:
        directory(f"{TUNE_DIR}/database"),
    log:
        "logs/tvm_merge/merge.log",
    script:
        "../scripts/tvm_merge.py"


rule tvm_compile:
    input:
        weights=lambda w: weights_of(w.variant),
        database=f"{TUNE_DIR}/database",
        split="results/data/split.json",
        code=package_code("tvm_compile", "tvm_setup", "export_rewrites", "model"),
    output:
        library="results/tvm/{variant}/model.so",
        info="results/tvm/{variant}/build.json",
    log:
        "logs/tvm_compile/{variant}.log",
    benchmark:
        "benchmarks/tvm_compile/{variant}.tsv"
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        target=TVM_TARGET,
    script:
        "../scripts/tvm_compile.py"
