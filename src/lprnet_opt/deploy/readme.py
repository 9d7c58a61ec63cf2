"""A bundle's README.md, written after the run from its records: what it reads and how fast
(measured through this bundle), how to run it, and what must match on another machine."""

from __future__ import annotations

from ..kinds import KINDS
from ..measure.stats import difference_in_words
from ..record import EvalRecord


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} KB"


def _must_match(bundle: dict, record: EvalRecord) -> list[str]:
    pins = ", ".join(f"{name} {version}" for name, version in bundle["requirements"].items())
    lines = [f"- **The runtime's version**: requirements.txt pins what was measured ({pins}). "
             "Another version is another measurement."]
    target = record.build.get("target")
    if bundle["runtime"] == "tvm_vm":
        lines.append(f"- **CPU features**: model.so is machine code compiled for TVM target `{target}`. On a CPU "
                     "without those features it fails to load or crashes; recompile there (README, \"TVM tuning\").")
    isa = record.build.get("numerics", {}).get("isa")
    if isa:
        lines.append(f"- **CPU class for INT8**: its numerics were chosen for class `{isa}` (README, \"INT8 and the "
                     "CPU class\"). On a CPU without VNNI, an artifact built for a VNNI class can lose plates; "
                     "rebuild with `quantization.target_isa`.")
    if bundle.get("precision", "f32") != "f32":
        lines.append(_precision_line(bundle["precision"], record))
    if bundle["runtime"] in ("inductor", "exported_inductor"):
        lines.append("- **A C++ compiler** (g++): inductor compiles the model when predict.py loads it.")
    lines.append(f"- **Threads**: timed with {bundle['threads']}; `--threads` or `load(threads=...)` changes it, "
                 "and with it the latency.")
    return lines


def _precision_line(precision: str, record: EvalRecord) -> str:
    """What a bf16 bundle needs of the CPU, and what was read back where it was measured."""
    read = record.precision
    kernels = ", ".join(sorted(read.get("conv_kernels", {}))) or "n/a"
    here = (f"Measured reading back `{read.get('ran')}` (conv kernels: {kernels}) on a CPU with bf16 compute "
            f"`{record.env.get('bf16', 'unknown')}`.")
    if record.runtime == "openvino_runtime":
        elsewhere = ("OpenVINO decides again at every load: with `amx_bf16` or `avx512_bf16` it runs bf16 natively; "
                     "on an AVX-512 CPU without them it emulates bf16 (2.2x slower than f32 where measured, "
                     "docs/bf16.md); without AVX-512 it keeps f32 (OpenVINO's own rule; not measured here). "
                     "`Predictor.precision` says what it chose.")
    else:
        elsewhere = ("Inductor runs the bf16 weights wherever it loads; without `avx512_bf16` or `amx_bf16` oneDNN "
                     "converts in software and the latency measured here does not hold.")
    return f"- **bf16 compute**: this bundle runs in {precision}. {here} {elsewhere}"


def run_section(artifact: str) -> str:
    """How to install and call a bundle whose model file is `artifact`: every bundle's README has it."""
    return f"""## Run it

```sh
python -m venv venv && venv/bin/pip install -r requirements.txt
venv/bin/python predict.py plate1.jpg plate2.jpg    # one line per image: path, tab, plate
```

```python
from predict import load          # with this folder on sys.path
reader = load()                   # loads {artifact} once
plates = reader.predict(["plate1.jpg"])
logits = reader.infer(images)     # float32 (N, 3, 24, 94) preprocessed images -> (N, 68, 18)
```

Preprocessing: resize to 94x24, BGR, `(x - 127.5) * 0.0078125`, NCHW. Decode: greedy CTC over
the 68-character LPRNet_Pytorch set, blank last."""


def bundle_readme(bundle: dict, record: EvalRecord, timing: dict) -> str:
    """README.md of a bundle (bundle.json `bundle`), from the variant's eval record and timing.json."""
    variant = bundle["variant"]
    t = timing["variants"][variant]
    env = timing["env"]
    baseline_accuracy = record.accuracy - (record.plates_gained - record.plates_lost) / record.n_images
    fit = "yes" if record.fit else f"**UNFIT**: {record.unfit_reason}"
    e2e = ("not timed (timing.json has no end-to-end numbers)" if t.get("e2e_latency_ms") is None else
           f"{t['e2e_latency_ms']:.3f} ms; reading, preprocessing and decode add {t['e2e_added_ms']:.3f} ms "
           f"(rounds {t['e2e_added_range_ms'][0]:.3f} to {t['e2e_added_range_ms'][1]:.3f})")
    rows = [
        ("what", f"{record.kind}: {KINDS[record.kind].description}" + (f", from {record.source}" if record.source else "")),
        ("exact-plate accuracy", f"{record.accuracy:.1%} ({record.n_correct}/{record.n_images}), 95% interval "
                                 f"{record.accuracy_ci_low:.1%} to {record.accuracy_ci_high:.1%}"),
        ("against the baseline", difference_in_words(record.accuracy, baseline_accuracy, record.plates_gained,
                                                     record.plates_lost, record.mcnemar_p, record.n_images)),
        ("fit to ship", fit),
        ("precision", (record.precision or {}).get("ran", "f32") + (f" ({bundle['precision']} requested)"
                                                                    if bundle.get("precision", "f32") != "f32" else "")),
        ("latency, inference only", f"{t['latency_ms']:.3f} ms (round medians {t['latency_round_min_ms']:.3f} to "
                                    f"{t['latency_round_max_ms']:.3f}), {t['ratio_to_eager']:.2f}x eager PyTorch fp32"),
        ("latency, end to end", e2e),
        ("size", f"artifact {_mb(bundle['artifact_bytes'])}, code {_mb(bundle['code_bytes'])}; "
                 f"requirements installed {_mb(bundle['requirements_installed_bytes'])}"),
        ("measured on", f"{env['cpu_model']} (CPU class {env['isa']}), {timing['threads']} threads, batch 1, "
                        f"commit {env.get('commit')}"),
    ]
    table = "\n".join(["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])
    torch_line = ("It needs torch" + (", and carries the lprnet_opt modules that define LPRNet in model/."
                                      if bundle["vendored_modules"] else ".")) if bundle["needs_torch"] else \
        "It needs neither torch nor lprnet-opt."
    return f"""# Deploy bundle: {variant}

Image files in, plate strings out, with the preprocessing, decode and runtime settings that the
numbers below were measured with. {torch_line}

{table}

Latency is batch 1, measured through this bundle's `predict.py` in the timing stage's protocol
(each variant alone in a fresh process, rounds side by side with the others). Compare it only
with other variants of the same run.

{run_section(bundle['artifact'])}

## What must match on another machine

{chr(10).join(_must_match(bundle, record))}
"""
