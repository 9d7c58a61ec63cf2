"""Static INT8 for x86 with PyTorch 2 export quantization (PT2E, torchao's X86InductorQuantizer).

The folded fp32 graph (`rewrites.fp32_graph`) is captured with `torch.export`, annotated,
calibrated on the calibration split only and converted; weights are folded to int8 and the
fp32 originals dropped, and the program is saved with `torch.export.save`. The runtime
(`runtimes/exported_inductor.py`) compiles it with inductor and freezing, which lowers each
quantized conv to oneDNN's qconv; the build counts those lowerings and refuses an artifact
without them. Which layers stay fp32 is decided by a measured sensitivity scan.

Numerics follow the CPU class (`isa`): without VNNI the weights use 7 bits (reduce_range),
as torchao's own docstring advises, since oneDNN's u8 x s8 products then sum pairs in 16 bits
and saturate. The shipped artifact then passes the INT8 guard (`int8_guard`) on the calibration
split through inductor, the path that ships. The sensitivity scan runs the converted graph's
reference (decomposed) execution instead: fp32 arithmetic on dequantized values, ~10x cheaper
than an inductor compile per candidate, but blind to saturation; the guard is not.

Quantization-aware fine-tuning (the FX build's off-by-default option) is gone with FX: with
`prepare_qat_pt2e` it made the shipped synthetic baseline's INT8 logit error 6x worse (0.12
against 0.019 calibrated), and on the real checkpoint the FX version had not raised accuracy.
"""

from __future__ import annotations

import copy
import logging
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path
from ..chars import greedy_decode
from ..geometry import IMAGE_HEIGHT, IMAGE_WIDTH
from .int8_guard import GuardSettings, Judge, guard_fields, guarded_build, numerics_for
from ..isa import NOTE_KEY, isa_class, note_for
from ..model import predict_logits
from ..rewrites import fp32_graph
from ..runtimes import load_runner, run_batched
from ..quiet import quiet_torch_internals
from .sensitivity import choose_fp32_layers, leave_one_out

log = logging.getLogger(__name__)
# The global-context division by a mean of squares mixes features of very different scales;
# measured with FX quantization: quantizing it (with the container) dropped the real
# checkpoint to 0% accuracy. X86InductorQuantizer leaves the division itself fp32.
ALWAYS_FP32 = ("context_norms",)
# torch.export specializes sizes 0 and 1, so the example batch is 2 and the batch is dynamic.
EXAMPLE_SHAPE = (2, 3, IMAGE_HEIGHT, IMAGE_WIDTH)


def movable(graph: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """An exported graph whose `.eval()` works, as `predict_logits` calls it (only dropout
    would change; BatchNorm is folded)."""
    from torchao.quantization.pt2e import allow_exported_model_train_eval

    return allow_exported_model_train_eval(graph)


def export_program(model: torch.nn.Module) -> torch.export.ExportedProgram:
    """`torch.export` of the model with a dynamic batch axis."""
    batch = torch.export.Dim("batch", min=1, max=4096)
    return torch.export.export(model, (torch.zeros(EXAMPLE_SHAPE),), dynamic_shapes=({0: batch},))


def quantizer_for(fp32_modules: list[str], reduce_range: bool = False):
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
        X86InductorQuantizer,
        get_default_x86_inductor_quantization_config,
    )

    config = get_default_x86_inductor_quantization_config(reduce_range=reduce_range)
    quantizer = X86InductorQuantizer().set_global(config)
    for name in fp32_modules:
        quantizer.set_module_name_qconfig(name, None)
    return quantizer


def export_fp32(model: torch.nn.Module) -> torch.fx.GraphModule:
    """The folded fp32 graph, captured once per build: annotation works on a copy of it."""
    return movable(export_program(fp32_graph(model).eval()).module())


def quantize_exported(exported: torch.fx.GraphModule, calibration: np.ndarray,
                      fp32_modules: list[str], reduce_range: bool = False) -> torch.fx.GraphModule:
    """Annotate a copy of `exported` (prepare_pt2e changes its input in place), calibrate on
    `calibration` images only, and convert to INT8. Copying instead of exporting again for each
    candidate of the sensitivity scan gives the same graph and saves the export."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    prepared = movable(prepare_pt2e(copy.deepcopy(exported), quantizer_for(fp32_modules, reduce_range)))
    predict_logits(prepared, calibration)
    return movable(convert_pt2e(prepared))


def quantize_model(model: torch.nn.Module, calibration: np.ndarray, fp32_modules: list[str]) -> torch.fx.GraphModule:
    """Export, annotate, calibrate on `calibration` images only, and convert to INT8."""
    return quantize_exported(export_fp32(model), calibration, fp32_modules)


def candidate_layers(model: torch.nn.Module) -> list[str]:
    """Conv layers that may be left in fp32 (those not already fp32 by rule)."""
    return [
        name for name, m in model.named_modules()
        if isinstance(m, torch.nn.Conv2d) and not name.startswith(ALWAYS_FP32)
    ]


def drop_unused_attributes(graph: torch.fx.GraphModule) -> None:
    """Delete parameters and buffers the graph no longer reads. After conversion the int8
    weights are new constants and the fp32 originals stay attached: saved, they made the
    artifact 2.5 MB instead of 0.9 (0.12 deflated)."""
    used = {node.target for node in graph.graph.nodes if node.op == "get_attr"}
    for name, _ in [*graph.named_parameters(), *graph.named_buffers()]:
        if name not in used:
            owner, _, attribute = name.rpartition(".")
            delattr(graph.get_submodule(owner) if owner else graph, attribute)


def save_exported(quantized: torch.fx.GraphModule, path: str | Path, isa: str | None = None) -> None:
    """Save the converted graph as an ExportedProgram that `torch.export.load` reads with no
    project code, without example inputs, deflated: `torch.export.load` reads it as it is,
    and int8 weights and the graph's JSON shrink (measured: 0.75 MB -> 0.12 MB). `isa`, the CPU
    class the numerics were chosen for, goes in as an extra file the runtime checks."""
    drop_unused_attributes(quantized)
    program = export_program(quantized)
    program._example_inputs = None  # two sample images, 55 KB
    with atomic_path(path) as tmp, tempfile.TemporaryDirectory() as scratch:
        stored = Path(scratch) / "stored.pt2"
        torch.export.save(program, str(stored), extra_files={NOTE_KEY: note_for(isa)} if isa else None)
        deflate_zip(stored, tmp)


def deflate_zip(source: str | Path, target: str | Path) -> None:
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))


def run_counting_lowerings(path: str | Path, images: np.ndarray, threads: int) -> tuple[list[str], dict[str, int]]:
    """The artifact's plates for `images` (batch 1, as measured) through its runtime, and
    inductor's counters of quantized-conv pattern matches and lowerings from compiling it."""
    from torch._dynamo.utils import counters

    counters.clear()
    plates = greedy_decode(run_batched(load_runner("exported_inductor", path, threads), images, 1))
    return plates, {name: count for name, count in counters["inductor"].items() if name.startswith("qconv")}


def build_quantized(make_model, calibration: np.ndarray, judge: Judge, max_fp32_layers: int, scan_images: int,
                    threads: int, path: str | Path, guard: GuardSettings, target_isa: str | None = None) -> dict:
    """Choose numerics for `target_isa` (None: this CPU's class), scan sensitivity, leave the worst layers fp32
    (with a budget, `guard.max_drop`: none at first), quantize on `calibration`, save, check that inductor
    lowers the quantized convs, and pass the INT8 guard on `judge` through the runtime. Returns the build record."""
    quiet_torch_internals()
    isa = target_isa or isa_class(onednn=True)
    reduce_range, choice = numerics_for(isa)
    reference = greedy_decode(predict_logits(make_model(), judge.images))
    subset = calibration[:scan_images]
    exported = export_fp32(make_model())
    candidates = candidate_layers(make_model())
    scans: list[list[dict]] = []

    def scan() -> list[dict]:
        if not scans:
            scans.append(leave_one_out(
                lambda kept: predict_logits(quantize_exported(exported, subset, [*ALWAYS_FP32, *kept], reduce_range),
                                            subset),
                candidates, predict_logits(make_model(), subset)))
        return scans[0]

    lowerings: list[dict[str, int]] = []
    with tempfile.TemporaryDirectory() as scratch:
        def attempt(rr: bool, layers: list[str]) -> tuple[Path, list[str]]:
            candidate = Path(scratch) / f"attempt{len(lowerings)}.pt2"
            save_exported(quantize_exported(exported, calibration, [*layers, *ALWAYS_FP32], rr), candidate, isa)
            plates, lowered = run_counting_lowerings(candidate, judge.images, threads)
            if not any(name.endswith("_lower_count") and count for name, count in lowered.items()):
                raise RuntimeError(f"{path}: inductor lowered no quantized conv (counters {lowered}); "
                                   "the artifact would run fp32 math")
            lowerings.append(lowered)
            return candidate, plates

        fixed = max_fp32_layers if guard.max_drop is None else 0  # a budget starts from none
        chosen_layers = choose_fp32_layers(scan(), fixed) if fixed > 0 else []
        chosen, record = guarded_build(attempt, reduce_range, chosen_layers,
                                       lambda: choose_fp32_layers(scan(), len(candidates)), guard, judge, reference)
        with atomic_path(path) as tmp:
            shutil.copyfile(chosen, tmp)
    final = record["attempts"][record["chosen_attempt"]]
    return {
        "fp32_layers": final["fp32_layers"] + list(ALWAYS_FP32),
        "sensitivity": scans[0] if scans else [],
        "sensitivity_path": "reference (decomposed) execution of the converted graph: fp32 arithmetic on "
                            "dequantized values, blind to int8 saturation; the guard runs the inductor artifact",
        "calibration_images": len(calibration),
        **guard_fields(record, isa, choice),
        "backend": "PT2E (torchao X86InductorQuantizer), torch.export program, inductor with freezing",
        "inductor_qconv_lowerings": lowerings[record["chosen_attempt"]],
    }
