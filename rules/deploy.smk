# One deploy bundle per variant: the artifact with a standalone predict.py and its runtime's
# requirements (README, "Shipping a variant"). The timing stage times each variant through it.


rule deploy:
    input:
        artifact=lambda w: artifact_of(w.variant),
        # predict.py copies in the variant's runtime loader and, for torch runtimes, eager's
        # torch_runner and the modules that rebuild LPRNet.
        code=lambda w: package_code(
            "deploy.py", runtime_code(w.variant), "runtimes/eager", "checkpoint"
        ),
    output:
        model=directory("results/deploy/{variant}/model"),
        predict="results/deploy/{variant}/predict.py",
        requirements="results/deploy/{variant}/requirements.txt",
        bundle="results/deploy/{variant}/bundle.json",
    log:
        "logs/deploy/{variant}.log",
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind=lambda w: VARIANTS[w.variant]["kind"],
        precision=lambda w: kinds.precision_of(w.variant, VARIANTS),
        threads=config["threads"],
    script:
        "../scripts/deploy.py"


# After the run: each bundle's README quotes the accuracy and latency measured through it. One
# job for all: every README reads timing.json, which changes as a whole.
rule bundle_readmes:
    input:
        bundles=expand("results/deploy/{variant}/bundle.json", variant=VARIANTS),
        evals=expand("results/eval/{variant}.json", variant=VARIANTS),
        timing="results/timing.json",
        code=package_code("bundle_readmes.py"),
    output:
        expand("results/deploy/{variant}/README.md", variant=VARIANTS),
    log:
        "logs/bundle_readmes/bundle_readmes.log",
    script:
        "../scripts/bundle_readmes.py"
