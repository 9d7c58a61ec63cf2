"""Import TVM only after checking the apache-tvm-ffi pin; targets, and the keys of tuning folders.

The folder keys are computed without TVM or torch: the workflow computes them at every parse,
on whatever machine parses (a login node, under SLURM).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import platform
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from .chars import NUM_CLASSES
from .geometry import padded_width

REQUIRED_FFI = "0.1.14.post1"
# The data and kernel layouts every conv is converted to before tuning (tvm.graph.export_relax).
# Output channels are innermost in both, so the vectorised axis reads contiguous weights; with
# OHWI each weight vector was a 16-way strided gather (docs/tvm-tuning.md).
# Part of the tuning key: tasks, and so database records, differ per layout.
CONV_LAYOUT, KERNEL_LAYOUT = "NHWC", "HWIO"


class TVMSetupError(RuntimeError):
    """A TVM installation or target that cannot work; the message names the cause."""


def check_ffi_version() -> None:
    try:
        found = metadata.version("apache-tvm-ffi")
    except metadata.PackageNotFoundError:
        raise TVMSetupError("apache-tvm-ffi is not installed; pip install apache-tvm-ffi==" + REQUIRED_FFI) from None
    if found != REQUIRED_FFI:
        raise TVMSetupError(
            f"apache-tvm-ffi {found} is installed, but apache-tvm 0.27.0.post1 MetaSchedule needs "
            f"{REQUIRED_FFI} (0.1.15.x segfaults while tuning): pip install apache-tvm-ffi=={REQUIRED_FFI}"
        )


def import_tvm(threads: int | None = None):
    """The TVM module, after the version guard; TVM's thread pool reads TVM_NUM_THREADS once."""
    check_ffi_version()
    if threads:
        os.environ["TVM_NUM_THREADS"] = str(threads)
    import tvm

    return tvm


def warm_up_tvm(threads: int | None = None) -> None:
    """Import TVM's CPU tensor intrinsics once, quickly, before MetaSchedule asks for them.

    MetaSchedule imports the package `tvm.s_tir.tensor_intrin` when it creates its first tuning
    context, and every build worker does too. Their ~500 TVMScript definitions each call
    inspect.stack(), and for every frame whose file does not exist (``<frozen
    importlib._bootstrap>``, ``<string>``) inspect.getmodule scans all of sys.modules: measured
    here 88 s for the import. Memoising that lookup per file name for the import's duration
    gives the same answers in 7 s. Of what is left, the CUDA intrinsics, which the package's
    `__init__` imports first and no LLVM target uses, took 2.5 of 3.4 s (AMD EPYC): the package
    is registered without running its `__init__`, and only the modules it imports for LLVM are
    imported (a CUDA user's `import tvm.s_tir.tensor_intrin.cuda` still works).
    """
    import importlib
    import importlib.util
    import sys

    import_tvm(threads)
    package = "tvm.s_tir.tensor_intrin"
    with _memoised_frame_getmodule():
        if package not in sys.modules:
            import tvm.s_tir

            module = importlib.util.module_from_spec(importlib.util.find_spec(package))
            sys.modules[package] = module
            tvm.s_tir.tensor_intrin = module
        for name in LLVM_TENSOR_INTRINSICS:
            importlib.import_module(f"{package}.{name}")


# What tvm/s_tir/tensor_intrin/__init__.py imports when LLVM is enabled (apache-tvm 0.27).
LLVM_TENSOR_INTRINSICS = ("arm_cpu", "x86", "rocm", "hexagon", "riscv_cpu")


@contextmanager
def _memoised_frame_getmodule():
    original = inspect.getmodule
    found: dict[str, object] = {}

    def getmodule(obj, _filename=None):
        if _filename is None or not inspect.isframe(obj):
            return original(obj, _filename)
        if _filename not in found:
            found[_filename] = original(obj, _filename)
        return found[_filename]

    inspect.getmodule = getmodule
    try:
        yield
    finally:
        inspect.getmodule = original


def host_target(threads: int) -> dict:
    tvm = import_tvm()
    return {"kind": "llvm", "mcpu": tvm.target.codegen.llvm_get_system_cpu(), "num-cores": threads}


def resolve_target(spec: dict | None, threads: int) -> dict:
    """The config target, or this host's CPU with `threads` cores when the config says null.
    A target of another architecture is refused here, before tuning: MetaSchedule measures each
    candidate on this machine. A config target with a device tunes there (cross/rpc.py)."""
    if spec and isinstance(spec, dict) and llvm_arch(spec) != platform.machine():
        raise TVMSetupError(f"config key tvm.target: builds for {llvm_arch(spec)}, but this host is "
                            f"{platform.machine()} and tuning runs its candidates here; to tune for another machine, "
                            "set config key target (with target.device: its candidates are timed there)")
    return dict(spec) if spec else host_target(threads)


def llvm_arch(spec: dict) -> str:
    """The architecture an LLVM target dict builds for: its `mtriple`'s first field
    (`aarch64-linux-gnu` -> `aarch64`), or this host's without one, as LLVM then builds."""
    triple = spec.get("mtriple")
    return str(triple).split("-")[0] if triple else platform.machine()


def make_target(spec: dict):
    tvm = import_tvm()
    if not isinstance(spec, dict) or "kind" not in spec:
        raise TVMSetupError(f"config key tvm.target: expected a JSON dict with 'kind', got {spec!r}")
    mcpu, arch = spec.get("mcpu"), llvm_arch(spec)
    # Checked against the target's own architecture: a Cortex-A76 is valid for aarch64 only.
    if spec["kind"] == "llvm" and mcpu and not tvm.target.codegen.llvm_is_valid_cpu(mcpu, arch):
        raise TVMSetupError(f"config key tvm.target: LLVM does not know the CPU {mcpu!r} for {arch}")
    try:
        return tvm.target.Target(spec)
    except Exception as err:  # TVM raises its own error types for bad target dicts
        raise TVMSetupError(f"config key tvm.target: invalid target {json.dumps(spec)} ({err})") from None


def graph_key(num_classes: int, widths: str = "") -> str:
    """A folder name for the tuned graph: architecture, batch size, layouts and export rewrites
    (padded class width; strided-pool channels grouped), each of which changes the tasks, and
    for a channel-pruned LPRNet its widths (`model.Widths.key`), so a slimmer graph gets its
    own database and never reuses schedules tuned for other shapes."""
    layouts = f"{CONV_LAYOUT.lower()}_{KERNEL_LAYOUT.lower()}"
    return f"lprnet{num_classes}_b1_{layouts}_pad{padded_width(num_classes)}_grouped" + (f"_{widths}" if widths else "")


def target_key(spec: dict) -> str:
    """A folder name for a target, so databases tuned for different CPUs never mix."""
    parts = [spec.get("kind", "target"), spec.get("mcpu", "generic"), f"{spec.get('num-cores', 'n')}c"]
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:8]
    return "-".join(str(p) for p in parts) + "-" + digest


def target_label(spec: dict | None) -> str:
    """The tuning folder's name for a config target, known at parse time on any machine.

    A null target (this node's CPU) is resolved later, by the job that extracts the tasks, on
    a node that runs the shards: its folder is "host", and tasks.json records what it was.
    """
    return target_key(spec) if spec else "host"


def cache_folder(root: str | Path, tasks: dict, shard: int) -> Path:
    """A shard's persistent database, keyed by the resolved target and the graph (tasks.json):
    CPUs and architectures never mix records."""
    return Path(root) / target_key(tasks["target"]) / tasks["graph"] / f"shard{shard}"


def check_node(tasks: dict, tasks_path: str | Path) -> None:
    """Refuse to tune or compile on a CPU other than the one a host-resolved target names."""
    if not tasks.get("from_host"):
        return
    here = host_target(tasks["target"].get("num-cores", 1))
    if here["mcpu"] != tasks["target"].get("mcpu"):
        raise TVMSetupError(
            f"{tasks_path}: the target was resolved on a {tasks['target'].get('mcpu')} CPU, this node is "
            f"{here['mcpu']}; set config key tvm.target for the deployment CPU, or delete that folder to retarget"
        )
