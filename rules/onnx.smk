# One export per fp32 source variant ({variant} is the source: kinds.KINDS["onnx"].artifact).
rule onnx_export:
    input:
        weights=lambda w: weights_of(w.variant),
        code=package_code("onnx_export.py"),
    output:
        "results/onnx/{variant}.onnx",
    log:
        "logs/onnx_export/{variant}.log",
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/onnx_export.py"
