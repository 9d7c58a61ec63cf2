rule synthetic_plates:
    output:
        directory("results/data/synthetic/{part}"),
    params:
        plates=lambda w: config["synthetic"][w.part]["count"],
        seed=lambda w: config["synthetic"][w.part]["seed"],
    wildcard_constraints:
        part="train|validation|calibration|evaluation|distill",
    log:
        "logs/synthetic_plates/{part}.log",
    script:
        "../scripts/synthetic_plates.py"


rule split:
    input:
        images=folder_of(config["images"], "evaluation"),
        calibration=calibration_folder(),
        code=package_code("data"),
    output:
        "results/data/split.json",
    params:
        calibration_images=lambda w, input: input.calibration or None,
        fraction=config["calibration_fraction"],
    log:
        "logs/split/split.log",
    script:
        "../scripts/split.py"
