"""Where a number was measured: CPU model, cores, threads and library versions."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from ..isa import bf16_capability, cpuinfo_field, isa_class


def cpu_model() -> str:
    # Arm's /proc/cpuinfo has no model name: its "CPU part" names the core (0xd0b: Cortex-A76).
    part = cpuinfo_field("CPU part")
    return cpuinfo_field("model name") or (f"Arm CPU part {part}" if part else None) or platform.processor() \
        or "unknown"


def source_commit() -> str | None:
    """The commit of this package's checkout (with "+changes" when the tree is edited), or None
    outside a git checkout: numbers are labelled by the code that made them."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."], cwd=here.parent,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+changes" if dirty else "") if commit else None


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def physical_cores() -> int | None:
    try:  # psutil is the host's; a device's Python may not have it
        import psutil
    except ImportError:
        return None
    return psutil.cpu_count(logical=False)


def environment(threads: int) -> dict:
    return {
        "cpu_model": cpu_model(),
        # The instruction-set class INT8 numerics depend on (isa.py): as oneDNN runtimes see it
        # (ONEDNN_MAX_CPU_ISA applies), and the hardware's, which ONNX Runtime uses.
        "isa": isa_class(onednn=True),
        "isa_hardware": isa_class(onednn=False),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        # bf16 compute apart from the class: "amx_bf16", "avx512_bf16" or "none" (isa.bf16_capability).
        "bf16": bf16_capability(onednn=True),
        "bf16_hardware": bf16_capability(onednn=False),
        "logical_cores": os.cpu_count(),
        "physical_cores": physical_cores(),
        "threads": threads,
        "commit": source_commit(),
        "python": platform.python_version(),
        "torch": version("torch"),
        "tvm": version("apache-tvm"),
        "onnxruntime": version("onnxruntime"),
        "openvino": version("openvino"),
    }
