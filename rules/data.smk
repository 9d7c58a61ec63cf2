rule synthetic_plates:
    input:
        code=package_code("synthetic_plates.py"),
    output:
        directory("results/data/synthetic/{part}"),
    log:
        "logs/synthetic_plates/{part}.log",
    wildcard_constraints:
        part="train|validation|calibration|evaluation|distill",
    params:
        plates=lambda w: config["synthetic"][w.part]["count"],
        seed=lambda w: config["synthetic"][w.part]["seed"],
    script:
        "../scripts/synthetic_plates.py"


rule split:
    input:
        images=folder_of(config["images"], "evaluation"),
        calibration=calibration_folder(),
        code=package_code("split.py"),
    output:
        "results/data/split.json",
    log:
        "logs/split/split.log",
    params:
        calibration_images=lambda w, input: input.calibration or None,
        fraction=config["calibration_fraction"],
    script:
        "../scripts/split.py"


# The calibration part alone, from the calibration folder (or, split by hash, the image folder's
# file names): builds, guards, judge readings and timing read this, never split.json, so new
# evaluation images rerun only what reads them (README, "What reruns").
rule calibration_split:
    input:
        images=calibration_source(),
        code=package_code("calibration_split.py"),
    output:
        CALIBRATION,
    log:
        "logs/calibration_split/calibration_split.log",
    params:
        calibration_images=bool(calibration_folder()),
        fraction=config["calibration_fraction"],
    script:
        "../scripts/calibration_split.py"
