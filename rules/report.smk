rule summarize:
    input:
        **tuning_inputs(),
        evals=expand("results/eval/{variant}.json", variant=VARIANTS),
        # The goal's choice reads these and the timing, never the evaluation plates.
        judge=expand("results/judge/{variant}.json", variant=VARIANTS),
        timing="results/timing.json",
        bundles=expand("results/deploy/{variant}/bundle.json", variant=VARIANTS),
        # Each bundle's README quotes the run's numbers; the report links the bundles.
        bundle_readmes=expand("results/deploy/{variant}/README.md", variant=VARIANTS),
        # A target of another architecture: its bundles as checked under emulation.
        target=target_outputs(),
        baseline=config["baseline_weights"],
        split="results/data/split.json",
        code=package_code("summarize.py"),
    output:
        csv=report(
            "results/summary.csv",
            caption="../report/summary_csv.rst",
            category="2. Numbers",
        ),
        markdown="results/summary.md",
        html=report(
            "results/report.html",
            caption="../report/report_html.rst",
            category="1. Recommendation",
        ),
        charts=report(
            directory("results/charts"),
            patterns=["{name}.png"],
            caption="../report/chart.rst",
            category="3. Charts",
            labels={"chart": "{name}"},
        ),
    log:
        "logs/summarize/summarize.log",
    params:
        images=images_description(),
        config_hash=config_hash(),
        # The inputs' shards and tasks, grouped by graph.
        tuning=tuning_graphs(),
        trials=config["tvm"]["trials"],
        goal=config["goal"],
    script:
        "../scripts/summarize.py"
