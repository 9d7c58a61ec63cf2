"""The registry of kinds: paths, references and runtimes follow from the kind alone."""

from __future__ import annotations

import importlib

from conftest import REPO
from lprnet_opt.kinds import KINDS, artifact_of, build_info_of, reference_of, reference_predictions_of, weights_of
from lprnet_opt.config import validate_config

VARIANTS = validate_config({"variants": {
    "baseline": {"kind": "baseline"},
    "pruned": {"kind": "pruned", "ratio": 0.5},
    "pruned_quantized": {"kind": "quantized", "source": "pruned"},
    "pruned_mlc": {"kind": "tvm", "source": "pruned"},
    "onnxruntime": {"kind": "onnx"},
    "pruned_openvino": {"kind": "openvino", "source": "pruned"},
    "torch_compile": {"kind": "torch_compile"},
    "pruned_onnx_int8": {"kind": "onnx_int8", "source": "pruned"},
    "openvino_int8": {"kind": "openvino_int8"},
    "slim": {"kind": "channel_pruned", "macs_ratio": 0.5},
    "slim_mlc": {"kind": "tvm", "source": "slim"},
}})["variants"]
BASE = "data/base.pth"


def test_every_variant_is_checked_against_the_fp32_model_it_was_built_from():
    references = {v: reference_of(v, VARIANTS, BASE) for v in VARIANTS}
    assert references == {
        "baseline": [],
        "pruned": [BASE],  # the dense model it was pruned from, not itself
        "pruned_quantized": ["results/prune/pruned.pt"],
        "pruned_mlc": ["results/prune/pruned.pt"],
        "onnxruntime": [BASE],
        "pruned_openvino": ["results/prune/pruned.pt"],
        "torch_compile": [BASE],  # its artifact is that same file, but it runs through inductor
        "pruned_onnx_int8": ["results/prune/pruned.pt"],
        "openvino_int8": [BASE],
        "slim": [BASE],  # the dense model, as for unstructured pruning
        "slim_mlc": ["results/channel_prune/slim.pt"],
    }


def test_each_reference_is_predicted_once_per_source_variant():
    """Rule reference predicts a source's weights once; its file is named by the variant whose
    weights `reference_of` names, and every variant but the baseline also reads the baseline's."""
    for variant in VARIANTS:
        own, baseline = reference_predictions_of(variant, VARIANTS)
        if variant == "baseline":
            assert own == baseline == []
            continue
        source = VARIANTS[variant]["source"]
        assert own == [f"results/reference/{source}.npz"] and baseline == ["results/reference/baseline.npz"]
        assert reference_of(variant, VARIANTS, BASE) == [weights_of(source, VARIANTS, BASE)], variant


def test_artifacts_weights_and_build_records():
    assert {v: artifact_of(v, VARIANTS, BASE) for v in VARIANTS} == {
        "baseline": BASE, "pruned": "results/prune/pruned.pt",
        "pruned_quantized": "results/quantize/pruned_quantized.pt2", "pruned_mlc": "results/tvm/pruned_mlc/model.so",
        "onnxruntime": "results/onnx/baseline.onnx", "pruned_openvino": "results/onnx/pruned.onnx",
        "torch_compile": BASE, "pruned_onnx_int8": "results/onnx_int8/pruned_onnx_int8.onnx",
        "openvino_int8": "results/openvino_int8/openvino_int8.xml",
        "slim": "results/channel_prune/slim.pt", "slim_mlc": "results/tvm/slim_mlc/model.so",
    }
    assert build_info_of("openvino_int8", VARIANTS) == ["results/openvino_int8/openvino_int8.json"]
    assert weights_of("pruned_mlc", VARIANTS, BASE) == "results/prune/pruned.pt"
    assert build_info_of("pruned_mlc", VARIANTS) == ["results/tvm/pruned_mlc/build.json"]
    assert build_info_of("onnxruntime", VARIANTS) == []


def test_every_kind_names_a_runtime_module_with_a_loader_and_a_rule_that_exists():
    rules = "".join(p.read_text() for p in (REPO / "rules").glob("*.smk"))
    for kind in KINDS.values():
        module = importlib.import_module(f"lprnet_opt.runtimes.{kind.runtime}")
        assert callable(module.load), kind.name
        assert kind.rule is None or f"rule {kind.rule}:" in rules, kind.name
        assert set(kind.sources) <= {k.name for k in KINDS.values() if k.makes_weights}, kind.name


def test_every_kind_has_a_three_line_snippet_that_loads_its_artifact():
    from lprnet_opt.kinds import snippet_of

    for name in KINDS:
        lines = snippet_of(name, "results/x/artifact.bin").splitlines()
        assert len(lines) == 3 and '"results/x/artifact.bin"' in lines[1], name
        assert "logits =" in lines[2], name
