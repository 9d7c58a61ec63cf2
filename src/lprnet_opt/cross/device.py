"""The target's device, reached over SSH (config target.device): copy files there, run its
Python, fetch what it wrote. Only `ssh` and `tar` are needed on either side (and `setsid`, of
util-linux or BusyBox, for TVM's RPC server), and nothing runs as root: the device needs a Python
with the bundles' requirements installed, that is all.

Every call is one `ssh -o BatchMode=yes` process, so a login that would ask for a password
fails at once with ssh's own message instead of hanging a job.
"""

from __future__ import annotations

import io
import logging
import shlex
import socket
import subprocess
import tarfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class DeviceError(RuntimeError):
    """The device could not be reached or a command there failed; the message names it."""


@dataclass(frozen=True)
class Device:
    ssh: str  # [user@]host, or a Host of the ssh config
    port: int | None
    options: tuple[str, ...]
    python: str
    workdir: str  # relative: under the login's home

    @classmethod
    def of(cls, target: Mapping) -> Device:
        """The device of a config target (schema-checked: `ssh` is set)."""
        device = dict(target["device"])
        return cls(ssh=device["ssh"], port=device.get("port"), options=tuple(device.get("options", ())),
                   python=device.get("python", "python3"), workdir=device.get("workdir", "lprnet-opt"))

    def folder(self, *parts: str) -> str:
        """A path on the device, under the workdir (quoted for its shell by `run`)."""
        return "/".join([self.workdir.rstrip("/"), *parts])

    def error(self, what: str) -> DeviceError:
        """One line naming the config key and the device: what failed there."""
        return DeviceError(f"config key target.device ({self.ssh}{f' port {self.port}' if self.port else ''}): {what}")

    def ssh_command(self, remote: str | None, forward: str | None = None) -> list[str]:
        """ssh's argv for one remote command, or (`remote` None) for only a `forward` (-L)."""
        port = ["-p", str(self.port)] if self.port else []
        tunnel = ["-N", "-o", "ExitOnForwardFailure=yes", "-L", forward] if forward else []
        return ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", *port, *tunnel, *self.options, self.ssh,
                *([remote] if remote else [])]

    def start(self, argv: list[str], env: Mapping[str, str] | None = None, cwd: str | None = None,
              until_stdin_closes: bool = False) -> subprocess.Popen:
        """Start `argv` on the device (in `cwd` there, with `env` added); its output, both streams,
        is the process's stdout. `until_stdin_closes`: a server, stopped there when this side
        closes its stdin or dies (killing ssh alone leaves a remote command running)."""
        prefix = f"mkdir -p {shlex.quote(cwd)} && cd {shlex.quote(cwd)} && " if cwd else ""
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        command = (f"env {assignments} " if assignments else "") + shlex.join(argv)
        if until_stdin_closes:
            # The server in the background, in a session of its own (setsid), so that its whole
            # group goes: TVM's server serves each client in a child that outlived a kill of the
            # server alone (and kept the ssh open). A watcher on this side's stdin (kept as fd 3:
            # a background job's stdin is /dev/null) kills the group at EOF; the shell ends with
            # the server, so a server that dies at once ends the ssh too.
            command = (f"{{ exec 3<&0; setsid {command} & server=$!; {{ read -r _ <&3; kill -- -$server; }} "
                       ">/dev/null 2>&1 & wait $server; }")
        return subprocess.Popen(self.ssh_command(prefix + command),
                                stdin=subprocess.PIPE if until_stdin_closes else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def run(self, argv: list[str], timeout: float, progress: Callable[[str], None] | None = None,
            env: Mapping[str, str] | None = None, cwd: str | None = None) -> list[str]:
        """Run `argv` on the device (in `cwd` there, with `env` added); its output lines go to
        `progress` as they come. Returns them; raises DeviceError with the last ones on failure."""
        # One stream: what the device prints, on either, is progress and, on failure, the reason.
        process = self.start(argv, env, cwd)
        lines: list[str] = []
        # Killed at the deadline, so a command that hangs with its output open ends the read too.
        expired = threading.Event()
        deadline = threading.Timer(timeout, lambda: (expired.set(), process.kill()))
        deadline.start()
        try:
            for line in process.stdout:
                lines.append(line.rstrip())
                if progress:
                    progress(line.rstrip())
            status = process.wait()
        finally:
            deadline.cancel()
        if expired.is_set():
            raise self.error(f"{argv[0]} still running after {timeout:.0f} s")
        if status != 0:
            tail = " | ".join(lines[-3:]) or f"exit status {status}"
            raise self.error(f"{shlex.join(argv)[:200]} failed (exit {status}): {tail}")
        return lines

    def push(self, files: Mapping[str, str | Path], into: str, timeout: float = 600) -> None:
        """Copy local files (name in the device folder `into` -> local path) in one tar stream;
        the folder is emptied first, so nothing of an earlier copy is read by mistake."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for name, path in sorted(files.items()):
                archive.add(str(path), arcname=name)
        quoted = shlex.quote(into)
        remote = f"rm -rf {quoted} && mkdir -p {quoted} && tar -xf - -C {quoted}"
        result = subprocess.run(self.ssh_command(remote), input=buffer.getvalue(), capture_output=True,
                                timeout=timeout)
        if result.returncode != 0:
            raise self.error(f"copying {len(files)} files to {into} failed: {last_line(result.stderr)}")
        log.info("%s: copied %d files (%.1f MB) to %s", self.ssh, len(files), len(buffer.getvalue()) / 1e6, into)

    def fetch(self, remote_path: str, timeout: float = 120) -> bytes:
        """The bytes of one file on the device."""
        result = subprocess.run(self.ssh_command(f"cat {shlex.quote(remote_path)}"), capture_output=True,
                                timeout=timeout)
        if result.returncode != 0:
            raise self.error(f"reading {remote_path} failed: {last_line(result.stderr)}")
        return result.stdout


def free_local_port() -> int:
    """A port on this machine's 127.0.0.1 that was free a moment ago (for a forward, or a server)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def last_line(stderr: bytes) -> str:
    """ssh's own reason ("Connection refused", "Permission denied (publickey)") is its last line."""
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1][-300:] if lines else "no message"


def folder_files(folder: str | Path, under: str) -> dict[str, Path]:
    """Every file of a local folder, named under `under` in a `push`."""
    root = Path(folder)
    return {f"{under}/{path.relative_to(root)}": path for path in sorted(root.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts}
