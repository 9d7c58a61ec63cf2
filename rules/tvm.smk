# Tuning is keyed by target and architecture; it never depends on weight values, so all
# TVM variants of the full LPRNet (mlc, pruned_mlc, ...) share one database and unstructured
# pruning never retunes. A channel-pruned source has its own graph folder (tvm_graph), whose
# tasks come from its widths, and its persistent databases are keyed by those widths.
# A null tvm.target is resolved by tvm_tasks, on a node that runs the shards, into tasks.json;
# the shards and compiles read it from there (README, "TVM tuning").


rule tvm_tasks:
    input:
        weights=lambda w: graph_weights(w.graph),
        code=package_code("tvm_tasks.py"),
    output:
        f"{TUNE_ROOT}/{{graph}}/tasks.json",
    log:
        "logs/tvm_tasks/{graph}.log",
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        target=config["tvm"]["target"],
        threads=config["threads"],
        on_device=False,
    script:
        "../scripts/tvm_tasks.py"


rule tvm_tune_shard:
    input:
        tasks=f"{TUNE_ROOT}/{{graph}}/tasks.json",
        seeds=tvm_seed_files(),
        code=package_code("tvm_tune_shard.py"),
    output:
        directory(f"{TUNE_ROOT}/{{graph}}/shard{{shard}}"),
    log:
        "logs/tvm_tune_shard/{graph}/shard{shard}.log",
    benchmark:
        "benchmarks/tvm_tune_shard/{graph}/shard{shard}.tsv"
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
        # Persistent databases, under <target key>/<architecture with widths>/shard<i>
        # (tvm.setup.cache_folder). Each architecture gets the whole trial budget.
        cache_root="results/tvm/cache",
        trials=config["tvm"]["trials"],
        min_trials=config["tvm"]["min_trials_per_task"],
        shards=config["tvm"]["shards"],
        seed=config["tvm"]["seed"],
        population=config["tvm"]["population"],
        # Seed schedules, replayed and timed here before the search (tvm/seed.py).
        warm_start=config["tvm"]["warm_start"],
        seed_traces=config["tvm"]["seed_traces"],
        cost_model=config["tvm"]["cost_model"],
    script:
        "../scripts/tvm_tune_shard.py"


rule tvm_merge:
    input:
        shards=lambda w: tuning_shards(w.graph),
        code=package_code("tvm_merge.py"),
    output:
        directory(f"{TUNE_ROOT}/{{graph}}/database"),
    log:
        "logs/tvm_merge/{graph}.log",
    script:
        "../scripts/tvm_merge.py"


rule tvm_compile:
    input:
        weights=lambda w: source_weights(w.variant),
        tasks=lambda w: f"{TUNE_ROOT}/{tvm_graph(w.variant)}/tasks.json",
        database=lambda w: f"{TUNE_ROOT}/{tvm_graph(w.variant)}/database",
        split=CALIBRATION,
        code=package_code("tvm_compile.py"),
    output:
        library="results/tvm/{variant}/model.so",
        info="results/tvm/{variant}/build.json",
    log:
        "logs/tvm_compile/{variant}.log",
    benchmark:
        "benchmarks/tvm_compile/{variant}.tsv"
    # LLVM code generation is single-threaded (17.9 CPU s of an 18.6-s job, AMD EPYC), so it
    # claims one thread's share and two compiles run side by side.
    threads: cpu_claim(1)
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        threads=config["threads"],
    script:
        "../scripts/tvm_compile.py"
