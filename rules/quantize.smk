rule quantize:
    input:
        weights=lambda w: source_weights(w.variant),
        split=CALIBRATION,
        judge=judge_plates(),
        code=package_code("quantize.py"),
    output:
        model="results/quantize/{variant}.pt2",
        info="results/quantize/{variant}.json",
    log:
        "logs/quantize/{variant}.log",
    benchmark:
        "benchmarks/quantize/{variant}.tsv"
    threads: cpu_claim()
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        threads=config["threads"],
        max_fp32_layers=config["quantization"]["max_fp32_layers"],
        scan_images=config["quantization"]["scan_images"],
        min_agreement=config["quantization"]["min_agreement"],
        # The accuracy budget (kinds.py: optional); None keeps max_fp32_layers.
        max_drop=lambda w: VARIANTS[w.variant].get("max_drop"),
        guard_fp32_layers=config["quantization"]["guard_fp32_layers"],
        target_isa=config["quantization"]["target_isa"],
    script:
        "../scripts/quantize.py"


# INT8 with ONNX Runtime's own quantizer, on an INT8-friendly export of the source weights.
rule onnx_int8:
    input:
        weights=lambda w: source_weights(w.variant),
        split=CALIBRATION,
        judge=judge_plates(),
        code=package_code("onnx_int8.py", "runtimes/onnx_runtime"),
    output:
        model="results/onnx_int8/{variant}.onnx",
        info="results/onnx_int8/{variant}.json",
    log:
        "logs/onnx_int8/{variant}.log",
    benchmark:
        "benchmarks/onnx_int8/{variant}.tsv"
    threads: cpu_claim()
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        threads=config["threads"],
        max_fp32_layers=config["quantization"]["max_fp32_layers"],
        scan_images=config["quantization"]["scan_images"],
        min_agreement=config["quantization"]["min_agreement"],
        # The accuracy budget (kinds.py: optional); None keeps max_fp32_layers.
        max_drop=lambda w: VARIANTS[w.variant].get("max_drop"),
        guard_fp32_layers=config["quantization"]["guard_fp32_layers"],
        target_isa=config["quantization"]["target_isa"],
        calibration_methods=config["quantization"]["onnx_calibration_methods"],
        activation_scan=config["quantization"]["activation_scan"],
        # Outlier channels equalized before calibration (kinds.py: optional, default true).
        equalize=lambda w: VARIANTS[w.variant].get("equalize") is not False,
    script:
        "../scripts/onnx_int8.py"


# INT8 for OpenVINO: NNCF on the fp32 ONNX export that the OpenVINO peer runs, or ONNX
# Runtime's QDQ of the equalized INT8 graph of the source weights, whichever agrees more.
rule openvino_int8:
    input:
        onnx=lambda w: f"results/onnx/{VARIANTS[w.variant]['source']}.onnx",
        weights=lambda w: source_weights(w.variant),
        split=CALIBRATION,
        judge=judge_plates(),
        code=package_code("openvino_int8.py"),
    output:
        model="results/openvino_int8/{variant}.xml",
        weights="results/openvino_int8/{variant}.bin",
        info="results/openvino_int8/{variant}.json",
    log:
        "logs/openvino_int8/{variant}.log",
    benchmark:
        "benchmarks/openvino_int8/{variant}.tsv"
    threads: cpu_claim()
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        threads=config["threads"],
        scan_images=config["quantization"]["scan_images"],
        min_agreement=config["quantization"]["min_agreement"],
        # The accuracy budget (kinds.py: optional); None keeps max_fp32_layers.
        max_drop=lambda w: VARIANTS[w.variant].get("max_drop"),
        guard_fp32_layers=config["quantization"]["guard_fp32_layers"],
        target_isa=config["quantization"]["target_isa"],
        qdq_methods=config["quantization"]["onnx_calibration_methods"],
    script:
        "../scripts/openvino_int8.py"
