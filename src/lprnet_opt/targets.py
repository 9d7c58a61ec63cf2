"""The registry of deployment targets of another architecture: what each architecture and CPU
needs to be built for, emulated and installed on. Imports nothing heavy: the workflow reads it
at every parse.

A new architecture is one `Arch` entry (its triple, Debian name, cross compiler, qemu and wheel
tags); a new CPU is one `Cpu` entry (its qemu model and the /proc/cpuinfo a device of it shows).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from .kinds import precision_of, target_variants


class TargetError(ValueError):
    """A target the registry cannot build or emulate; the message names the config key."""


@dataclass(frozen=True)
class Arch:
    name: str  # platform.machine() on a device of it, and LLVM's architecture name
    triple: str  # LLVM mtriple, and the prefix of the GNU cross toolchain
    debian: str  # Debian's architecture name (mmdebstrap --arch)
    # The qemu-user binary that runs its programs here; None: not emulated, checked and timed
    # only on a device (target.device).
    qemu: str | None
    # pip --platform tags of its manylinux wheels, oldest first (OpenVINO's is tagged 2_35).
    wheel_platforms: tuple[str, ...]

    @property
    def compiler(self) -> str:
        return f"{self.triple}-gcc"


@dataclass(frozen=True)
class Cpu:
    name: str  # LLVM -mcpu, and the config's target.cpu
    arch: str
    # qemu's -cpu model: its default "max" reports SVE, bf16 and i8mm, which these lack ("" when
    # its architecture is not emulated).
    qemu: str
    part: str  # "CPU part" in /proc/cpuinfo (implementer 0x41, Arm; "" off Arm)
    # "Features" (Arm) or "flags" (x86) in /proc/cpuinfo, as the CPU's Linux shows them: runtimes
    # pick kernels from them.
    features: str
    devices: str  # boards that carry it, for the docs


_AARCH64_WHEELS = tuple(f"manylinux_2_{minor}_aarch64" for minor in (17, 28, 31, 34, 35)) + ("manylinux2014_aarch64",)
ARCHES: dict[str, Arch] = {
    a.name: a for a in (
        Arch("aarch64", "aarch64-linux-gnu", "arm64", "qemu-aarch64-static", _AARCH64_WHEELS),
        # This machine's own architecture on another machine (a cloud or edge x86 box): nothing
        # to emulate, so it needs a device; the test of the device path uses it on 127.0.0.1.
        Arch("x86_64", "x86_64-linux-gnu", "amd64", None,
             tuple(f"manylinux_2_{minor}_x86_64" for minor in (17, 28)) + ("manylinux2014_x86_64",)),
    )
}
_ARMV8_2 = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
CPUS: dict[str, Cpu] = {
    c.name: c for c in (
        Cpu("cortex-a76", "aarch64", "cortex-a76", "0xd0b", _ARMV8_2, "Raspberry Pi 5, RK3588 (big cores)"),
        Cpu("neoverse-n1", "aarch64", "neoverse-n1", "0xd0c", _ARMV8_2 + " ssbs", "AWS Graviton2, Ampere Altra"),
        Cpu("cortex-a72", "aarch64", "cortex-a72", "0xd08", "fp asimd evtstrm crc32 cpuid", "Raspberry Pi 4"),
        Cpu("cortex-a53", "aarch64", "cortex-a53", "0xd03", "fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid",
            "Raspberry Pi 3, many gate-camera SoCs"),
        # x86 microarchitecture levels (LLVM -mcpu): a build for one runs on every CPU of it.
        Cpu("x86-64-v3", "x86_64", "", "", "avx2 fma bmi2", "AVX2 machines: AMD Zen 2/3, Intel Haswell and later"),
        Cpu("x86-64-v4", "x86_64", "", "", "avx2 fma bmi2 avx512f avx512bw avx512vl",
            "AVX-512 machines: AMD Zen 4/5, Intel Skylake-SP and later"),
    )
}


def resolve(target: Mapping) -> tuple[Arch, Cpu]:
    """The registry entries of a config target, or TargetError naming the key."""
    arch = ARCHES.get(target.get("arch"))
    if arch is None:
        raise TargetError(f"config key target.arch: {target.get('arch')!r}; builds for another architecture "
                          f"know {', '.join(ARCHES)}")
    cpu = CPUS.get(target.get("cpu"))
    if cpu is None or cpu.arch != arch.name:
        known = ", ".join(c.name for c in CPUS.values() if c.arch == arch.name)
        raise TargetError(f"config key target.cpu: {target.get('cpu')!r} is not a {arch.name} CPU this tool "
                          f"builds for ({known})")
    return arch, cpu


def check_target(target: Mapping) -> None:
    """A config target the workflow can build and check (config validation), or TargetError."""
    arch, _ = resolve(target)
    if arch.qemu is None and not target.get("device"):
        raise TargetError(f"config key target.device: an {arch.name} target is not emulated here, so it is checked "
                          "and timed on its device only: set target.device to its SSH destination")


def tvm_target(target: Mapping, threads: int) -> dict:
    """The LLVM target dict TVM cross-compiles for (tvm_setup.make_target checks it)."""
    arch, cpu = resolve(target)
    return {"kind": "llvm", "mtriple": arch.triple, "mcpu": cpu.name, "num-cores": threads}


def target_record(target: Mapping) -> dict:
    """What every record built for the target carries."""
    arch, cpu = resolve(target)
    return {"name": target["name"], "arch": arch.name, "cpu": cpu.name, "triple": arch.triple,
            "device": target.get("device"), "key": target_key(target)}


def target_key(target: Mapping) -> str:
    """A folder name per target: its name, and a digest of what it builds for, so that a changed
    CPU under the same name never reads another CPU's artifacts."""
    built_for = {k: target.get(k) for k in ("arch", "cpu")}
    return f"{target['name']}-" + hashlib.sha256(json.dumps(built_for, sort_keys=True).encode()).hexdigest()[:8]


def cpuinfo_text(cpu: Cpu, cores: int) -> str:
    """The /proc/cpuinfo a Linux on `cores` of `cpu` shows. Under qemu-user the runtimes would
    read the host's x86 file: ONNX Runtime 1.32's cpuinfo then segfaults at import (measured)."""
    block = (f"processor\t: {{n}}\nBogoMIPS\t: 108.00\nFeatures\t: {cpu.features}\nCPU implementer\t: 0x41\n"
             f"CPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: {cpu.part}\nCPU revision\t: 1\n")
    return "\n".join(block.format(n=n) for n in range(cores)) + "\n"


# Precisions a target adds to each fp32 variant of a kind when its CPU has the arithmetic (the
# "asimdhp" feature, Armv8.2+): OpenVINO's own default there is f16, so a user who leaves the
# hint unset runs it. Built from the same artifact, read back and checked by the guard.
TARGET_PRECISIONS = {"openvino": ("f16",)}


def target_forms(variants: Mapping[str, Mapping], target: Mapping) -> dict[str, tuple[str, str]]:
    """Each bundle built for the target: its name -> (the host variant it comes from, precision)."""
    _, cpu = resolve(target)
    forms = {}
    for name in target_variants(variants):
        precision = precision_of(name, variants)
        forms[name] = (name, precision)
        if precision == "f32" and "asimdhp" in cpu.features.split():
            for extra in TARGET_PRECISIONS.get(variants[name]["kind"], ()):
                if f"{name}_{extra}" not in variants:
                    forms[f"{name}_{extra}"] = (name, extra)
    return forms
