"""The registry of variant kinds: the one place that says what a kind means.

A kind names the rule that builds it, where its artifact and build record go, the runtime
that loads it, which kinds it may start from, which parameters it takes, and which fp32
model its outputs are checked against. The config schema, config validation, the workflow's
input functions, `measure` and the report all read this table. It imports nothing heavy:
the workflow reads it at every parse.

Adding a kind is one entry here, one runtime module under `runtimes/` if it brings a new
runtime, and one rule (README, "Adding a kind").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    description: str
    # Module under lprnet_opt.runtimes whose `load(path, threads)` runs the artifact.
    runtime: str
    # Artifact path. {variant} and {source} are variant names; {baseline_weights} is the
    # config's checkpoint and {source_weights} the fp32 state_dict of the source variant.
    artifact: str
    # The rule that writes the artifact; None when the artifact is an existing file.
    rule: str | None = None
    # The JSON the build rule writes beside the artifact.
    build_info: str | None = None
    # Kinds this kind may start from (`source`); empty: it takes no source.
    sources: tuple[str, ...] = ()
    # Config keys besides kind and source: required; "a|b" takes exactly one of a and b; "a?" is optional.
    params: tuple[str, ...] = ()
    # The artifact is an fp32 LPRNet state_dict, so other variants may start from it.
    makes_weights: bool = False
    # "self": the variant is its own fp32 reference (the baseline). "source": its outputs are
    # compared with eager fp32 PyTorch on the weights of the variant it was built from (for a
    # pruned variant, the dense model it was pruned from).
    reference: str = "source"
    # Shown on the report's accuracy-against-sparsity chart.
    sweep: bool = False
    # Precisions its runtime can run the float model in (config `precision`, default "f32"); a
    # non-f32 variant is checked against its fp32 source (rule precision_guard, PRECISION_CHECK).
    precisions: tuple[str, ...] = ("f32",)
    # The runtime runs fp32 weights as they are (no quantization, no reduced precision at f32):
    # on the unpruned weights such a variant is an exact form of the baseline (`is_exact`).
    exact: bool = False
    # Three lines that load the artifact ({artifact}) with its runtime and run one plate
    # (preprocessed, float32, (1, 3, 24, 94)) into `logits`: the report shows them and
    # tests/test_pipeline.py runs each. Only state_dict kinds need this project (LPRNet's class).
    snippet: str = ""
    # How it is built for a target (config `target`: another machine, cross/): "copy"
    # (a portable artifact, run by its runtime's wheel for that platform), "tvm" (recompiled for
    # the target's triple and CPU), or why it is not built there; the target summary says so.
    on_target: str = "copy"


_EAGER = """import torch; from lprnet_opt.checkpoint import load_model  # LPRNet's class
model = load_model("{artifact}").eval()
with torch.inference_mode(): logits = model(torch.zeros(1, 3, 24, 94))"""
_ONNX = """import numpy as np, onnxruntime as ort
session = ort.InferenceSession("{artifact}", providers=["CPUExecutionProvider"])
logits = session.run(None, {{"images": np.zeros((1, 3, 24, 94), np.float32)}})[0]"""
_OPENVINO = """import numpy as np, openvino as ov  # the hint always set: unset, AVX-512 CPUs run bf16
model = ov.Core().compile_model("{artifact}", "CPU", {{"INFERENCE_PRECISION_HINT": "{precision}"}})
logits = model(np.zeros((1, 3, 24, 94), np.float32))[0]"""


_TORCH_ONLY_HERE = ("not built for a target: PyTorch runs need torch on the device, which the "
                    "target userland does not carry (cross/userland.py)")

# Kinds whose artifact is an fp32 state_dict: what compilers, quantizers and pruners start from.
FP32_SOURCES = ("baseline", "pruned", "channel_pruned")
# Float precisions a runtime may run a float model in besides f32 (the default).
FLOAT_PRECISIONS = ("f32", "bf16")

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("baseline", "the fp32 checkpoint in eager PyTorch", runtime="eager",
             artifact="{baseline_weights}", makes_weights=True, reference="self", sweep=True,
             exact=True, snippet=_EAGER, on_target=_TORCH_ONLY_HERE),
        Kind("pruned", "global L1 unstructured pruning recovered by distillation, bitmask-packed",
             runtime="eager", artifact="results/prune/{variant}.pt", rule="prune",
             build_info="results/prune/{variant}.json", sources=FP32_SOURCES, params=("ratio",),
             makes_weights=True, sweep=True, snippet=_EAGER, on_target=_TORCH_ONLY_HERE),
        Kind("channel_pruned", "structured (channel) pruning to a MAC target, recovered by distillation: "
             "a slimmer dense LPRNet", runtime="eager", artifact="results/channel_prune/{variant}.pt",
             rule="channel_prune", build_info="results/channel_prune/{variant}.json", sources=FP32_SOURCES,
             params=("macs_ratio|max_drop",), makes_weights=True, sweep=True, snippet=_EAGER,
             on_target=_TORCH_ONLY_HERE),
        Kind("quantized", "static INT8 by PT2E (x86 inductor), a torch.export program", runtime="exported_inductor",
             artifact="results/quantize/{variant}.pt2", rule="quantize",
             build_info="results/quantize/{variant}.json", sources=FP32_SOURCES, params=("max_drop?",),
             on_target="not built for a target: PT2E INT8 lowers through PyTorch's x86 inductor "
                       "quantizer (oneDNN kernels)",
             snippet="""import torch, torch.ao.quantization.fx._decomposed  # registers the (de)quantize ops
torch._inductor.config.freezing = True; model = torch.compile(torch.export.load("{artifact}").module())
with torch.inference_mode(): logits = model(torch.zeros(1, 3, 24, 94))"""),
        Kind("tvm", "TVM Relax build tuned with MetaSchedule", runtime="tvm_vm",
             artifact="results/tvm/{variant}/model.so", rule="tvm_compile",
             build_info="results/tvm/{variant}/build.json", sources=FP32_SOURCES, exact=True, on_target="tvm",
             snippet="""import numpy as np, tvm; from tvm import relax
vm = relax.VirtualMachine(tvm.runtime.load_module("{artifact}"), tvm.cpu())
logits = vm["main"](tvm.runtime.tensor(np.zeros((1, 3, 24, 94), np.float32)))[0].numpy()"""),
        # One ONNX export per source, shared by the ONNX Runtime and OpenVINO rows.
        Kind("onnx", "ONNX Runtime fp32 peer", runtime="onnx_runtime",
             artifact="results/onnx/{source}.onnx", rule="onnx_export", sources=FP32_SOURCES, exact=True,
             snippet=_ONNX),
        Kind("openvino", "OpenVINO peer (f32, or bf16 by `precision`), on the ONNX export",
             runtime="openvino_runtime", artifact="results/onnx/{source}.onnx", rule="onnx_export",
             sources=FP32_SOURCES, params=("precision?", "max_drop?"), precisions=FLOAT_PRECISIONS,
             exact=True, snippet=_OPENVINO),
        Kind("onnx_int8", "static INT8 by onnxruntime.quantization (QDQ), on ONNX Runtime",
             runtime="onnx_runtime", artifact="results/onnx_int8/{variant}.onnx", rule="onnx_int8",
             build_info="results/onnx_int8/{variant}.json", sources=FP32_SOURCES, params=("max_drop?", "equalize?"),
             snippet=_ONNX),
        Kind("openvino_int8", "static INT8 for OpenVINO: NNCF's, or ONNX Runtime's QDQ of the equalized INT8 "
             "graph, whichever agrees more; OpenVINO IR", runtime="openvino_runtime",
             artifact="results/openvino_int8/{variant}.xml", rule="openvino_int8",
             build_info="results/openvino_int8/{variant}.json", sources=FP32_SOURCES,
             params=("max_drop?",), snippet=_OPENVINO),
        Kind("torch_compile", "torch.compile (inductor) peer of the source weights (f32, or bf16 by `precision`)",
             runtime="inductor", artifact="{source_weights}", sources=FP32_SOURCES,
             params=("precision?", "max_drop?"), precisions=FLOAT_PRECISIONS, on_target=_TORCH_ONLY_HERE,
             exact=True, snippet="""import torch; from lprnet_opt.checkpoint import load_model  # LPRNet's class; bf16: runtimes/inductor.py
model = torch.compile(load_model("{artifact}").eval())
with torch.inference_mode(): logits = model(torch.zeros(1, 3, 24, 94))"""),
    )
}


class KindError(ValueError):
    """A variant spec that no kind allows; the message names the config key."""


def kind_of(variant: str, variants: Mapping[str, Mapping]) -> Kind:
    return KINDS[variants[variant]["kind"]]


def weights_of(variant: str, variants: Mapping[str, Mapping], baseline_weights: str) -> str:
    """The fp32 state_dict a variant is, or is built from."""
    kind = kind_of(variant, variants)
    if kind.makes_weights:
        return artifact_of(variant, variants, baseline_weights)
    return weights_of(variants[variant]["source"], variants, baseline_weights)


def artifact_of(variant: str, variants: Mapping[str, Mapping], baseline_weights: str) -> str:
    """The file the variant's runtime loads: what ships."""
    kind = kind_of(variant, variants)
    source = variants[variant].get("source")
    fields = {"variant": variant, "source": source, "baseline_weights": baseline_weights}
    if "{source_weights}" in kind.artifact:
        fields["source_weights"] = weights_of(source, variants, baseline_weights)
    return kind.artifact.format(**fields)


# Rule precision_guard: a non-f32 variant's read-back precision and its check against its fp32 source.
PRECISION_CHECK = "results/precision/{variant}.json"


def precision_of(variant: str, variants: Mapping[str, Mapping]) -> str:
    """The float precision a variant's runtime is asked for (config `precision`, default f32)."""
    return variants[variant].get("precision") or "f32"


def is_exact(variant: str, variants: Mapping[str, Mapping]) -> bool:
    """An exact form of the baseline: the unpruned fp32 weights in a runtime that does not
    approximate them (eager, ONNX Runtime fp32, OpenVINO f32, TVM fp32, torch.compile fp32).
    The goal charges it no margin: it differs from the baseline only by float rounding."""
    kind = kind_of(variant, variants)
    if not kind.exact or precision_of(variant, variants) != "f32":
        return False
    return kind.reference == "self" or kind_of(variants[variant]["source"], variants).reference == "self"


def build_info_of(variant: str, variants: Mapping[str, Mapping]) -> list[str]:
    """The build record beside the artifact, as a list (empty when the kind has none): for a
    non-f32 precision, its check against the fp32 source (rule precision_guard)."""
    kind = kind_of(variant, variants)
    if precision_of(variant, variants) != "f32":
        return [PRECISION_CHECK.format(variant=variant)]
    return [kind.build_info.format(variant=variant)] if kind.build_info else []


def reference_of(variant: str, variants: Mapping[str, Mapping], baseline_weights: str) -> list[str]:
    """The fp32 weights the variant's outputs are compared with; empty for a reference kind."""
    if kind_of(variant, variants).reference == "self":
        return []
    return [weights_of(variants[variant]["source"], variants, baseline_weights)]


# Rule reference: eager fp32 predictions of a source variant's weights on the evaluation images.
REFERENCE_PREDICTIONS = "results/reference/{variant}.npz"


def reference_predictions_of(variant: str, variants: Mapping[str, Mapping]) -> tuple[list[str], list[str]]:
    """The predictions of the weights `reference_of` names (a source is always a variant that
    makes fp32 weights, FP32_SOURCES), and the baseline's; empty for a reference kind."""
    if kind_of(variant, variants).reference == "self":
        return [], []
    return ([REFERENCE_PREDICTIONS.format(variant=variants[variant]["source"])],
            [REFERENCE_PREDICTIONS.format(variant="baseline")])


def check_variants(variants: Mapping[str, Mapping]) -> None:
    """Each spec against its kind: sources, parameters and cycles; KindError names the key."""
    if variants.get("baseline", {}).get("kind") != "baseline":
        raise KindError("config key variants.baseline: a variant named 'baseline' of kind 'baseline' is required")
    for name, spec in variants.items():
        kind = KINDS[spec["kind"]]
        choices = [param.rstrip("?").split("|") for param in kind.params]
        optional = {param.rstrip("?") for param in kind.params if param.endswith("?")}
        allowed = ("kind", *(key for keys in choices for key in keys), *(("source",) if kind.sources else ()))
        for key in spec:
            if key not in allowed:
                raise KindError(f"config key variants.{name}.{key}: kind '{kind.name}' takes no '{key}'")
        for keys in choices:
            if keys[0] in optional:
                continue
            # null counts as absent, so an overlay can switch a variant from one key to the other.
            given = [key for key in keys if spec.get(key) is not None]
            if len(given) != 1:
                what = "required" if not given else "give only one of " + " and ".join(given)
                raise KindError(f"config key variants.{name}.{'|'.join(keys)}: {what} for kind '{kind.name}'")
        precision = spec.get("precision")
        if precision is not None and precision not in kind.precisions:
            raise KindError(f"config key variants.{name}.precision: {precision!r}; kind '{kind.name}' runs "
                            f"{' or '.join(kind.precisions)}")
        if spec.get("max_drop") is not None and "precision?" in kind.params and (precision or "f32") == "f32":
            raise KindError(f"config key variants.{name}.max_drop: kind '{kind.name}' takes a budget only with "
                            "a precision other than f32 (an f32 peer changes nothing to budget)")
        if not kind.sources:
            continue
        source = spec.get("source", "baseline")
        if source not in variants:
            raise KindError(f"config key variants.{name}.source: no variant named {source!r}")
        if source == name:
            raise KindError(f"config key variants.{name}.source: a variant cannot be its own source")
        source_kind = variants[source]["kind"]
        if source_kind not in kind.sources:
            raise KindError(
                f"config key variants.{name}.source: {source!r} is of kind '{source_kind}'; "
                f"kind '{kind.name}' starts from the fp32 weights of a {' or '.join(kind.sources)} variant"
            )
    for name in variants:
        chain = [name]
        while KINDS[variants[chain[-1]]["kind"]].sources:
            chain.append(variants[chain[-1]].get("source", "baseline"))
            if chain[-1] in chain[:-1]:
                raise KindError(f"config key variants.{name}.source: sources form a cycle {' -> '.join(chain)}")


def snippet_of(kind: str, artifact: str, precision: str = "f32") -> str:
    """The kind's load-and-run lines for one artifact path."""
    return KINDS[kind].snippet.format(artifact=artifact, precision=precision)


def with_sources(variants: Mapping[str, Mapping]) -> dict[str, dict]:
    """A copy in which every kind that takes a source names it (default: the baseline)."""
    return {
        name: ({"source": "baseline", **spec} if KINDS[spec["kind"]].sources else dict(spec))
        for name, spec in variants.items()
    }


def onnxruntime_peer(variants: Mapping[str, Mapping]) -> str | None:
    """The ONNX Runtime fp32 variant of the baseline weights, the timing stage's second yardstick."""
    return next((name for name, spec in variants.items()
                 if spec["kind"] == "onnx" and spec.get("source") == "baseline"), None)


def on_target(variant: str, variants: Mapping[str, Mapping]) -> str:
    """How a variant is built for a target (config target: another machine) ("copy" or "tvm"), or why not."""
    precision = precision_of(variant, variants)
    if precision != "f32":
        return (f"not built for a target: {precision} is chosen and checked per x86 CPU class "
                "(AVX-512 BF16, AMX)")
    return kind_of(variant, variants).on_target


def target_variants(variants: Mapping[str, Mapping]) -> list[str]:
    """The variants a target gets a bundle of."""
    return [name for name in variants if on_target(name, variants) in ("copy", "tvm")]
