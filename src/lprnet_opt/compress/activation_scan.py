"""Where an ONNX Runtime INT8 (QDQ) model loses plates: its activation scales, one at a time.

An activation quantizer is a QuantizeLinear -> DequantizeLinear pair on a tensor that is not a
weight (QDQ weights are int8 initializers that feed a DequantizeLinear directly). The pairs that
share one scale (`scale_groups`) are bypassed together, a scale at a time, in the one calibrated
graph, never recalibrated: replaced by a Clip to the
quantizer's range, so the tensor keeps its clipping and loses only its rounding. A plain bypass
is wrong: ONNX Runtime's quantizer folds a ReLU after a conv into its uint8 quantizer (zero
point 0), and bypassing one of those read 0 of 48 plates like the fp32 model, against 0.96 for
the INT8 build (tests/test_activation_scan.py's model). A scan costs one session
and one read of the judge plates per scale; the plates are compared with the fp32 source's.
Then the k most harmful scales are bypassed together, with their agreement and their latency
against the untouched model (timed in one process, in alternating blocks): what leaving those
tensors fp32 would buy and cost. Convs and the nodes that stay fp32 by rule have their own scan
(`sensitivity.leave_one_out`); this one sees the activations that scan never toggles.

    python -m lprnet_opt.compress.activation_scan INT8.onnx FP32.onnx results/data/calibration.json

With `quantization.activation_scan: true` the ONNX Runtime INT8 build runs it on its artifact
and judge plates and records it (`activation_sensitivity`); the report charts it.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..chars import greedy_decode
from ..measure.timing import time_interleaved
from ..runtimes import load_runner, run_batched
from ..onnx_export import module_of

log = logging.getLogger(__name__)

# Batched as the INT8 build reads its judge plates (onnx_quantize.build_onnx_int8).
SCAN_BATCH = 64


def activation_quantizers(model) -> dict[str, tuple[list, list]]:
    """Per quantized activation tensor, its QuantizeLinear nodes (ONNX Runtime may give one
    tensor several, one per consumer) and the DequantizeLinear nodes that read them back; only
    quantizers whose output feeds nothing else."""
    graph = model.graph
    weights = {i.name for i in graph.initializer}
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    pairs = {}
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] in weights:
            continue
        after = readers.get(node.output[0], [])
        if after and all(n.op_type == "DequantizeLinear" for n in after):
            quantizes, dequantizes = pairs.setdefault(node.input[0], ([], []))
            quantizes.append(node)
            dequantizes.extend(after)
    return pairs


def quantizer_range(model, quantize) -> tuple[float, float]:
    """The real values a per-tensor QuantizeLinear can represent: its clipping range."""
    from onnx import numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    scale = float(values[quantize.input[1]])
    zero = values[quantize.input[2]] if len(quantize.input) > 2 else np.zeros((), np.uint8)
    info = np.iinfo(zero.dtype)
    return (info.min - int(zero)) * scale, (info.max - int(zero)) * scale


def bypassed(model, tensors: Sequence[str]):
    """A copy of `model` with the quantizers of `tensors` replaced by a Clip to their range:
    every reader of a dequantized output reads the fp32 tensor, clipped as the quantizer clips."""
    from onnx import helper, numpy_helper

    out = copy.deepcopy(model)
    pairs = activation_quantizers(out)
    rename, dropped, clips = {}, set(), []
    for tensor in tensors:
        quantizes, readers = pairs[tensor]
        for i, quantize in enumerate(quantizes):
            low, high = quantizer_range(out, quantize)
            clipped = f"{tensor}_fp32_clip{i}"
            bounds = [numpy_helper.from_array(np.array(v, np.float32), f"{clipped}_{end}")
                      for v, end in ((low, "low"), (high, "high"))]
            out.graph.initializer.extend(bounds)
            clips.append(helper.make_node("Clip", [tensor, bounds[0].name, bounds[1].name], [clipped],
                                          name=f"{clipped}_node"))
            dequantizes = [d for d in readers if d.input[0] == quantize.output[0]]
            dropped.update(id(n) for n in (quantize, *dequantizes))
            rename.update({d.output[0]: clipped for d in dequantizes})
    kept = [n for n in out.graph.node if id(n) not in dropped]
    for node in kept:
        node.input[:] = [rename.get(name, name) for name in node.input]
    for output in out.graph.output:
        output.name = rename.get(output.name, output.name)
    # Each Clip right after the node that writes its tensor, so the node order stays topological.
    order = []
    for node in kept:
        order.append(node)
        order += [c for c in clips if c.input[0] in node.output]
    order = [c for c in clips if c.input[0] not in {o for n in kept for o in n.output}] + order
    del out.graph.node[:]
    out.graph.node.extend(order)
    return out


def scale_groups(model) -> dict[str, list[str]]:
    """The quantized activation tensors per scale initializer, in graph order. ONNX Runtime gives
    a max pool's (or a slice's) output its input's scale, so one rounding grid covers the chain:
    bypassing one tensor of it leaves the others rounding on the same grid. On the real
    checkpoint's channel-pruned build, backbone.13's grid (its map, the pool's channel slice and
    the pool) held the loss: no tensor bypassed alone moved agreement past 0.930, the group
    bypassed with every other quantizer kept took it from 0.928 to 0.983 (docs/int8.md)."""
    pairs = activation_quantizers(model)
    groups: dict[str, list[str]] = {}
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] in pairs:
            members = groups.setdefault(node.input[1], [])
            if node.input[0] not in members:
                members.append(node.input[0])
    return groups


def producer_of(model, tensor: str) -> str:
    """The torch module whose exported node wrote `tensor` (the graph input: "input")."""
    for node in model.graph.node:
        if tensor in node.output:
            return module_of(node.name) or node.name.strip("/")
    return "input"


def scan_activations(int8_path: str | Path, source_plates: Sequence[str], images: np.ndarray, threads: int,
                     cumulative: int = 6, timing_runs: int = 200) -> dict:
    """Each activation scale of `int8_path` (`scale_groups`: the quantizers that share it) bypassed
    alone, its plates on `images` against `source_plates` (the fp32 source's); then the
    `cumulative` most harmful bypassed together, with agreement and latency ratio to the
    untouched model. Nothing is recalibrated."""
    import onnx

    model = onnx.load(str(int8_path))
    groups = scale_groups(model)
    source = list(source_plates)

    def agreement_of(path: Path, label: str) -> tuple[float, list[bool]]:
        plates = greedy_decode(run_batched(load_runner("onnx_runtime", path, threads), images, SCAN_BATCH))
        same = [p == s for p, s in zip(plates, source, strict=True)]
        log.info("activation scan %s: agreement %.4f", label, np.mean(same))
        return float(np.mean(same)), same

    with tempfile.TemporaryDirectory() as scratch:
        def saved(candidate, name: str) -> Path:
            path = Path(scratch) / f"{name}.onnx"
            onnx.save(candidate, str(path))
            return path

        untouched = saved(model, "untouched")
        base, base_same = agreement_of(untouched, "none bypassed")
        rows = []
        for i, (scale, tensors) in enumerate(groups.items()):
            agreed, same = agreement_of(saved(bypassed(model, tensors), "single"), f"{i + 1}/{len(groups)} {scale}")
            rows.append({"tensor": tensors[0], "tensors": tensors, "scale": scale,
                         "producer": producer_of(model, tensors[0]), "agreement": agreed,
                         "gain": agreed - base, "plates_fixed": sum(s and not b for s, b in zip(same, base_same)),
                         "plates_broken": sum(b and not s for s, b in zip(same, base_same))})
        rows.sort(key=lambda r: (-r["gain"], r["tensor"]))
        curve, int8 = [], load_runner("onnx_runtime", untouched, threads)
        for k in range(1, min(cumulative, len(rows)) + 1):
            chosen = [t for r in rows[:k] for t in r["tensors"]]
            path = saved(bypassed(model, chosen), f"top{k}")
            agreed, _ = agreement_of(path, f"top {k} bypassed")
            times = time_interleaved({"int8": int8, "bypassed": load_runner("onnx_runtime", path, threads)}, images[:1],
                                     warmup=20, runs=timing_runs)
            curve.append({"k": k, "tensors": chosen, "agreement": agreed,
                          "latency_ratio": float(np.median(times["bypassed"]) / np.median(times["int8"]))})
    return {"images": len(source), "quantizers": sum(len(t) for t in groups.values()), "scales": len(groups),
            "agreement": base, "pairs": rows, "cumulative": curve,
            "note": "one calibrated graph, the quantizers of one scale bypassed together, never recalibrated; latency ratio to the "
                    "untouched INT8 model in one process, alternating blocks"}


def main() -> None:
    from ..data import load_folder, read_split
    from ..workflow import setup_logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("int8", type=Path, help="the QDQ INT8 model (results/onnx_int8/<variant>.onnx)")
    parser.add_argument("fp32", type=Path, help="its fp32 source in ONNX (results/onnx/<source>.onnx)")
    parser.add_argument("images", type=Path, help="judge plates: a folder, or results/data/calibration.json "
                        "(never evaluation plates)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cumulative", type=int, default=6)
    args = parser.parse_args()
    setup_logging(None)
    plates = read_split(args.images, "calibration") if args.images.suffix == ".json" else load_folder(args.images)
    source = greedy_decode(run_batched(load_runner("onnx_runtime", args.fp32, args.threads), plates.images, SCAN_BATCH))
    print(json.dumps(scan_activations(args.int8, source, plates.images, args.threads, args.cumulative), indent=1))


if __name__ == "__main__":
    main()
