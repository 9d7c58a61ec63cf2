rule summarize:
    input:
        evals=expand("results/eval/{variant}.json", variant=VARIANTS),
        timing="results/timing.json",
        code=package_code("summarize.py"),
    output:
        csv="results/summary.csv",
        markdown="results/summary.md",
        html="results/report.html",
        charts=directory("results/charts"),
    log:
        "logs/summarize/summarize.log",
    script:
        "../scripts/summarize.py"
