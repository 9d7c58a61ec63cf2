"""The x86 instruction-set class that INT8 numerics depend on, and the note an artifact carries of it.

Without VNNI, an INT8 conv multiplies u8 activations by s8 weights with `vpmaddubsw`, whose
16-bit sums of pairs saturate; with VNNI (`vpdpbusd`) they sum in 32 bits. Measured on the
real checkpoint's 186 calibration images (AMD EPYC, AVX-512 VNNI, oneDNN capped at AVX2 by
ONEDNN_MAX_CPU_ISA): the full-range PT2E build agreed with fp32 on 0.656 of the plates, the
7-bit-weight (reduce_range) build on 0.962; without the cap, 0.984 and 0.962. So the build
picks its numerics by this class, and an artifact records the class it was built for.

oneDNN (PyTorch's qconv, OpenVINO's CPU plugin) reads ONEDNN_MAX_CPU_ISA at first use and then
runs the kernels of that class, so a VNNI machine can build and test what an AVX2 one gets.
ONNX Runtime's MLAS ignores it: for that runtime the class is the hardware's.
Stdlib only: runtime loaders import it without pulling anything else in.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

# Classes from least to most capable; the names appear in build and eval records.
CLASSES = ("pre_avx2", "avx2", "avx2_vnni", "avx512", "avx512_vnni", "amx")
VNNI_CLASSES = frozenset({"avx2_vnni", "avx512_vnni", "amx"})
# The cpuinfo flags each feature needs.
FEATURES = {
    "avx2": {"avx2", "fma"},
    "avx_vnni": {"avx_vnni"},
    "avx512": {"avx512f", "avx512bw", "avx512vl"},
    "avx512_vnni": {"avx512_vnni"},
    "amx": {"amx_tile", "amx_int8"},
}
# What each ONEDNN_MAX_CPU_ISA value leaves usable (oneDNN's dnnl_cpu_isa names).
ONEDNN_CAPS = {
    "SSE41": set(), "AVX": set(), "AVX2": {"avx2"}, "AVX2_VNNI": {"avx2", "avx_vnni"},
    "AVX2_VNNI_2": {"avx2", "avx_vnni"}, "AVX512_CORE": {"avx2", "avx512"},
    "AVX512_CORE_VNNI": {"avx2", "avx_vnni", "avx512", "avx512_vnni"},
    "AVX512_CORE_BF16": {"avx2", "avx_vnni", "avx512", "avx512_vnni"},
    "AVX512_CORE_FP16": {"avx2", "avx_vnni", "avx512", "avx512_vnni"},
    "AVX10_1_512": {"avx2", "avx_vnni", "avx512", "avx512_vnni"},
}
# bf16 compute, apart from the INT8 classes (which also choose TVM seeds): the cpuinfo flag of
# each, most capable first, and the ONEDNN_MAX_CPU_ISA values that leave it usable.
BF16_FEATURES = (("amx_bf16", "amx_bf16"), ("avx512_bf16", "avx512_bf16"))
BF16_CAPS = {
    "amx_bf16": {"AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "AVX10_2_512_AMX_2"},
    "avx512_bf16": {"AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512", "AVX512_CORE_AMX",
                    "AVX512_CORE_AMX_FP16", "AVX10_2_512", "AVX10_2_512_AMX_2"},
}
# Where an artifact keeps the class it was built for (PT2E extra file, ONNX metadata, IR rt_info).
NOTE_KEY = "lprnet_opt_isa"


def cpuinfo_field(name: str, cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """The first CPU's `name` line of /proc/cpuinfo ("flags", "model name"), or None."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.split(":", 1)[0].strip() == name:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags() -> set[str]:
    return set((cpuinfo_field("flags") or "").split())


def class_of_features(features: set[str]) -> str:
    if {"avx512", "amx"} <= features:
        return "amx"
    if {"avx512", "avx512_vnni"} <= features:
        return "avx512_vnni"
    if "avx512" in features:
        return "avx512"
    if {"avx2", "avx_vnni"} <= features:
        return "avx2_vnni"
    return "avx2" if "avx2" in features else "pre_avx2"


def isa_class(onednn: bool = True, flags: set[str] | None = None, cap: str | None = None) -> str:
    """This CPU's class, as `onednn` kernels see it: capped by ONEDNN_MAX_CPU_ISA (`cap`, read
    from the environment when None) for oneDNN runtimes, the hardware's otherwise."""
    flags = cpu_flags() if flags is None else flags
    features = {name for name, needs in FEATURES.items() if needs <= flags}
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") if cap is None else cap
    if onednn and cap and cap.upper() in ONEDNN_CAPS:
        features &= ONEDNN_CAPS[cap.upper()]
    return class_of_features(features)


def bf16_capability(onednn: bool = True, flags: set[str] | None = None, cap: str | None = None) -> str:
    """This CPU's bf16 compute: "amx_bf16", "avx512_bf16" or "none", as `onednn` kernels see it
    (capped by ONEDNN_MAX_CPU_ISA, read from the environment when `cap` is None)."""
    flags = cpu_flags() if flags is None else flags
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") if cap is None else cap
    for name, flag in BF16_FEATURES:
        if flag in flags and not (onednn and cap and cap.upper() not in BF16_CAPS[name]):
            return name
    return "none"


def has_vnni(isa: str) -> bool:
    return isa in VNNI_CLASSES


def note_for(isa: str) -> str:
    """The text an artifact stores under NOTE_KEY: the class its numerics were chosen for."""
    return json.dumps({"isa": isa})


def check_built_for(artifact: str | Path, note: str | None, onednn: bool) -> str | None:
    """One log line when an INT8 artifact (its NOTE_KEY text `note`, None when it has none)
    runs on a CPU of another class than it was built for; returns that line, or None."""
    built_for = json.loads(note)["isa"] if note else None
    here = isa_class(onednn)
    if built_for is None or built_for == here:
        return None
    risk = (" Its full-range int8 weights can saturate here; rebuild it on this CPU class."
            if has_vnni(built_for) and not has_vnni(here) else "")
    line = f"{artifact}: INT8 built for CPU class {built_for}, running on {here}.{risk}"
    log.warning(line)
    return line
