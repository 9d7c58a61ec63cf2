rule summarize:
    input:
        **tuning_inputs(),
        evals=expand("results/eval/{variant}.json", variant=VARIANTS),
        timing="results/timing.json",
        baseline=config["baseline_weights"],
        split="results/data/split.json",
        code=package_code("summarize.py"),
    output:
        csv="results/summary.csv",
        markdown="results/summary.md",
        html="results/report.html",
        charts=directory("results/charts"),
    log:
        "logs/summarize/summarize.log",
    params:
        images=images_description(),
        config_hash=config_hash(),
        # The inputs' shards and tasks, grouped by graph.
        tuning=tuning_graphs(),
        trials=config["tvm"]["trials"],
    script:
        "../scripts/summarize.py"
