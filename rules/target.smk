# A target of another architecture (config target; README, "Building for another device"): each
# variant that can run there gets a bundle built for it, read under qemu-user as the target's CPU
# on a sample of judge and evaluation plates. Emulated time is not a latency: nothing is timed.
# With target.device, the plates are read on the device, TVM is tuned there (TVM's RPC) and every
# bundle is timed there. Included only when the config names a target.


rule target_bundle:
    input:
        artifact=lambda w: artifact_of(host_variant(w.variant)),
        weights=lambda w: weights_of(host_variant(w.variant)),
        # With a device, a TVM bundle's schedules, tuned there (rule target_tune).
        database=lambda w: target_tuning(w.variant),
        code=lambda w: package_code(
            "target_bundle.py", runtime_code(host_variant(w.variant)), "tvm/compile"
        ),
    output:
        model=directory(f"{TARGET_ROOT}/{{variant}}/model"),
        predict=f"{TARGET_ROOT}/{{variant}}/predict.py",
        requirements=f"{TARGET_ROOT}/{{variant}}/requirements.txt",
        bundle=f"{TARGET_ROOT}/{{variant}}/bundle.json",
    log:
        f"logs/target_bundle/{TARGET_KEY}/{{variant}}.log",
    benchmark:
        f"benchmarks/target_bundle/{TARGET_KEY}/{{variant}}.tsv"
    # LLVM code generation is single-threaded (rule tvm_compile).
    threads: cpu_claim(1)
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        host=lambda w: host_variant(w.variant),
        kind=lambda w: VARIANTS[host_variant(w.variant)]["kind"],
        how=lambda w: kinds.on_target(host_variant(w.variant), VARIANTS),
        precision=lambda w: TARGET_FORMS[w.variant][1],
        target=TARGET_BUILD,
        threads=config["threads"],
    script:
        "../scripts/target_bundle.py"


rule target_tvm_tasks:
    input:
        weights=lambda w: graph_weights(w.graph),
        code=package_code("tvm_tasks.py"),
    output:
        f"{TARGET_ROOT}/tune/{{graph}}/tasks.json",
    log:
        f"logs/target_tvm_tasks/{TARGET_KEY}/{{graph}}.log",
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        target=targets.tvm_target(TARGET_BUILD, config["threads"]),
        threads=config["threads"],
        # The target's LLVM target as it is: its candidates are timed on its device.
        on_device=True,
    script:
        "../scripts/tvm_tasks.py"


# TVM's RPC runner (cross/rpc.py): candidates built and cross-linked here, timed on the device.
rule target_tune:
    input:
        tasks=f"{TARGET_ROOT}/tune/{{graph}}/tasks.json",
        seeds=tvm_seed_files(),
        code=package_code("target_tune.py"),
    output:
        directory(f"{TARGET_ROOT}/tune/{{graph}}/database"),
    log:
        f"logs/target_tune/{TARGET_KEY}/{{graph}}.log",
    benchmark:
        f"benchmarks/target_tune/{TARGET_KEY}/{{graph}}.tsv"
    # Builds use every local core, and a device on this machine (127.0.0.1) must time alone.
    threads: exclusive_threads()
    resources:
        mem_mb=4000,
        runtime=lambda w, attempt: 120 * attempt,
    params:
        target=TARGET,
        # Persistent, per device: a rerun or a raised budget continues from its records.
        cache_root=lambda w: f"{TARGET_ROOT}/tune/cache/{device_label()}",
        trials=TARGET["tune_trials"] or config["tvm"]["trials"],
        min_trials=config["tvm"]["min_trials_per_task"],
        seed=config["tvm"]["seed"],
        population=config["tvm"]["population"],
        warm_start=config["tvm"]["warm_start"],
        seed_traces=config["tvm"]["seed_traces"],
        cost_model=config["tvm"]["cost_model"],
    script:
        "../scripts/target_tune.py"


rule target_check:
    input:
        model=f"{TARGET_ROOT}/{{variant}}/model",
        predict=f"{TARGET_ROOT}/{{variant}}/predict.py",
        bundle=f"{TARGET_ROOT}/{{variant}}/bundle.json",
        split="results/data/split.json",
        host_eval=lambda w: f"results/eval/{host_variant(w.variant)}.json",
        calibration=CALIBRATION,
        judge=judge_plates(),
        baseline_judge="results/judge/baseline.json",
        source=lambda w: source_weights(host_variant(w.variant)),
        code=package_code("target_check.py"),
    output:
        f"{TARGET_ROOT}/{{variant}}/check.json",
    log:
        f"logs/target_check/{TARGET_KEY}/{{variant}}.log",
    benchmark:
        f"benchmarks/target_check/{TARGET_KEY}/{{variant}}.tsv"
    # An emulated check used one core (ps: 99.8% for TVM and OpenVINO under qemu-user 7.2,
    # AMD EPYC), so two run side by side; nothing is timed, so sharing the cores is harmless.
    # On a device the check waits on ssh, and rule target_timing waits for every check.
    threads: cpu_claim(1)
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        target=TARGET,
        sample=TARGET["check_plates"],
        userland=TARGET["userland"],
        threads=config["threads"],
        min_agreement=config["quantization"]["min_agreement"],
        max_drop=lambda w: VARIANTS[host_variant(w.variant)].get("max_drop"),
        # fp32 forms must read the host's plates (cross/check.py PARITY).
        fp32_form=lambda w: kinds.KINDS[
            VARIANTS[host_variant(w.variant)]["kind"]
        ].exact
        and TARGET_FORMS[w.variant][1] == "f32",
    script:
        "../scripts/target_check.py"


rule target_timing:
    input:
        bundles=expand(f"{TARGET_ROOT}/{{variant}}/predict.py", variant=TARGET_FORMS),
        # Every check first: they run on the same device, and would disturb the rounds.
        checks=expand(f"{TARGET_ROOT}/{{variant}}/check.json", variant=TARGET_FORMS),
        split=CALIBRATION,
        code=package_code("target_timing.py", "measure/on_device"),
    output:
        f"{TARGET_ROOT}/timing.json",
    log:
        f"logs/target_timing/{TARGET_KEY}.log",
    benchmark:
        f"benchmarks/target_timing/{TARGET_KEY}.tsv"
    # Every local core: a device on this machine (127.0.0.1) must run alone, as rule timing does.
    threads: exclusive_threads()
    resources:
        mem_mb=2000,
        runtime=180,
    params:
        target=TARGET,
        bundles={
            v: [kinds.kind_of(host_variant(v), VARIANTS).runtime, f"{TARGET_ROOT}/{v}"]
            for v in TARGET_FORMS
        },
        reference=kinds.onnxruntime_peer(VARIANTS),
        settings={**config["timing"], "threads": config["threads"]},
    script:
        "../scripts/target_timing.py"


rule target_summary:
    input:
        checks=expand(f"{TARGET_ROOT}/{{variant}}/check.json", variant=TARGET_FORMS),
        bundles=expand(f"{TARGET_ROOT}/{{variant}}/bundle.json", variant=TARGET_FORMS),
        # With a device, the timings the target's answer comes from.
        timing=[f"{TARGET_ROOT}/timing.json"] if TARGET_DEVICE else [],
        code=package_code("target_summary.py"),
    output:
        summary=f"{TARGET_ROOT}/summary.json",
        markdown=f"{TARGET_ROOT}/summary.md",
        # Each bundle's README.md: what it read, how fast on the device, how to run it.
        readmes=expand(f"{TARGET_ROOT}/{{variant}}/README.md", variant=TARGET_FORMS),
    log:
        f"logs/target_summary/{TARGET_KEY}.log",
    params:
        target=TARGET,
        not_built={
            v: kinds.on_target(v, VARIANTS) for v in VARIANTS if v not in TARGET_FORMS
        },
        goal=config["goal"],
    script:
        "../scripts/target_summary.py"
