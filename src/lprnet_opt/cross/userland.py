"""The target's userland on this machine: a Debian root of its architecture (mmdebstrap) and
the bundles' runtime wheels for its platform (pip --target, run here), and the one way to run
its Python under qemu-user as the target's CPU.

    python -m lprnet_opt.cross.userland --arch aarch64      # set up (apt as root, then the rest)

qemu runs the target's python3 with `-L <root>`: it resolves the dynamic loader, the libraries
and any absolute path that exists under the root there first, so the root's /proc/cpuinfo is
what the runtimes read (no chroot, no bind mount, no root rights to run). Emulated time is never
a latency: records made here carry `emulated: true` and no timing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from ..atomic import write_json, write_text
from ..targets import ARCHES, Arch, Cpu, cpuinfo_text

# Debian packages that set up a target here (mmdebstrap needs arch-test to check the emulation).
APT_PACKAGES = ("qemu-user-static", "binfmt-support", "arch-test", "mmdebstrap", "gcc-aarch64-linux-gnu")
SUITE = "bookworm"
# The wheels every bundle of another architecture may need, at this install's versions.
WHEELS = ("numpy", "opencv-python-headless", "onnxruntime", "openvino", "apache-tvm", "apache-tvm-ffi")
DEFAULT_ROOT = Path.home() / ".cache" / "lprnet-opt" / "userland"


class UserlandError(RuntimeError):
    """A userland that is missing or incomplete; the message says how to set it up."""


def userland_dir(arch: Arch, setting: str | None) -> Path:
    """config key target.userland, or the per-user cache."""
    return Path(setting).expanduser() if setting else DEFAULT_ROOT / f"{arch.debian}-{SUITE}"


def wheel_pins() -> dict[str, str]:
    return {name: metadata.version(name) for name in WHEELS}


def check_ready(arch: Arch, root: Path) -> dict:
    """The userland's record, or UserlandError with the command that makes it."""
    marker = root / "userland.json"
    setup = f"python -m lprnet_opt.cross.userland --arch {arch.name} --root {root}"
    if not marker.is_file():
        raise UserlandError(f"config key target.userland: no {arch.name} userland at {root}; set it up with: {setup}")
    record = json.loads(marker.read_text())
    if record.get("wheels") != wheel_pins():
        raise UserlandError(f"{marker}: its wheels {record.get('wheels')} are not this install's {wheel_pins()}; "
                            f"rerun: {setup}")
    if shutil.which(arch.qemu) is None:
        raise UserlandError(f"{arch.qemu} is not installed: apt-get install {' '.join(APT_PACKAGES)}")
    return record


def emulated_python(arch: Arch, cpu: Cpu, root: Path, args: list[str], cores: int, timeout: float,
                    progress: Callable[[str], None] = print) -> tuple[int, list[str]]:
    """Run the userland's python3 on `args` under qemu as `cpu`, with its /proc/cpuinfo, in a
    clean environment (the host's PIP_* and PYTHON* variables must not leak in). Its output
    lines go to `progress` as they come (an emulated check runs for minutes); returns the exit
    status and the lines. Killed after `timeout` seconds."""
    rootfs = root / "rootfs"
    write_text(cpuinfo_text(cpu, cores), rootfs / "proc" / "cpuinfo")
    env = {"QEMU_CPU": cpu.qemu, "PYTHONPATH": str(root / "site"), "PATH": "/usr/bin:/bin",
           "HOME": str(root), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
    command = [arch.qemu, "-L", str(rootfs), str(rootfs / "usr" / "bin" / "python3"), *args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    lines = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            progress(lines[-1])
        return process.wait(), lines
    finally:
        timer.cancel()


def _run(command: list[str], **kwargs) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, **kwargs)


def enable_binfmt(arch: Arch) -> None:
    """mmdebstrap runs the userland's package scripts, which are the target's programs: the
    kernel must hand them to qemu (binfmt_misc, mounted before update-binfmts can enable it)."""
    registry = Path("/proc/sys/fs/binfmt_misc")
    if (registry / arch.qemu.removesuffix("-static")).exists():
        return
    if os.geteuid() != 0:
        raise UserlandError(f"binfmt_misc has no {arch.qemu} entry; as root: update-binfmts --enable "
                            f"{arch.qemu.removesuffix('-static')}")
    if not (registry / "register").exists():
        _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(registry)])
    _run(["update-binfmts", "--enable", arch.qemu.removesuffix("-static")])


def set_up(arch: Arch, root: Path) -> dict:
    """Install what is missing: apt packages (as root), the Debian root, the wheels. Each part is
    made beside and renamed, so an interrupted setup is redone, never read as complete."""
    missing = [p for p, tool in zip(APT_PACKAGES, ("qemu-aarch64-static", "update-binfmts", "arch-test",
                                                    "mmdebstrap", arch.compiler)) if shutil.which(tool) is None]
    if missing:
        if os.geteuid() != 0:
            raise UserlandError(f"missing tools; as root: apt-get install {' '.join(APT_PACKAGES)}")
        _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *APT_PACKAGES],
             env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    enable_binfmt(arch)
    root.mkdir(parents=True, exist_ok=True)
    rootfs = root / "rootfs"
    if not (rootfs / "usr" / "bin" / "python3").exists():
        partial = root / "rootfs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        # libgomp1: TVM's runtime links it. python3 only: the wheels are installed from here.
        _run(["mmdebstrap", f"--arch={arch.debian}", "--variant=minbase", "--include=python3,libgomp1",
              SUITE, str(partial)])
        shutil.rmtree(rootfs, ignore_errors=True)
        partial.replace(rootfs)
    pins = wheel_pins()
    site = root / "site"
    recorded = json.loads((root / "userland.json").read_text()) if (root / "userland.json").is_file() else {}
    if recorded.get("wheels") != pins or not site.is_dir():
        partial = root / "site.partial"
        shutil.rmtree(partial, ignore_errors=True)
        platforms = [flag for tag in arch.wheel_platforms for flag in ("--platform", tag)]
        _run([sys.executable, "-m", "pip", "install", "-q", "--target", str(partial), "--no-warn-conflicts", "--only-binary=:all:",
              "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", *platforms,
              *(f"{name}=={version}" for name, version in pins.items())])
        shutil.rmtree(site, ignore_errors=True)
        partial.replace(site)
    record = {"arch": arch.name, "debian": arch.debian, "suite": SUITE, "wheels": pins,
              "qemu": subprocess.run([arch.qemu, "--version"], capture_output=True, text=True).stdout.splitlines()[0]}
    write_json(record, root / "userland.json")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Set up a target architecture's userland for lprnet-opt.")
    parser.add_argument("--arch", required=True, choices=sorted(ARCHES))
    parser.add_argument("--root", type=Path, default=None, help=f"default: {DEFAULT_ROOT}/<debian arch>-{SUITE}")
    args = parser.parse_args(argv)
    arch = ARCHES[args.arch]
    root = args.root or userland_dir(arch, None)
    try:
        record = set_up(arch, root)
    except (UserlandError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{arch.name} userland ready at {root}: {record['qemu']}, wheels {record['wheels']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
