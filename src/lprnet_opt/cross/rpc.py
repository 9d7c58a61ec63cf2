"""TVM tuning with candidates timed on the target's device (rule target_tune): TVM's own RPC
server runs there, reached through an SSH forward; candidates are built here, linked with the
target's cross toolchain, uploaded and timed there. This is how TVM's users tune for a board.

The device needs the TVM bundle's requirements (apache-tvm), as it does to run the bundle; no
compiler, tracker or open port: the server listens on the device's 127.0.0.1 only, and the
forward is one more `ssh` of the same destination.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ..tvm.tune import evaluator_config, tune_planned_shard
from ..tvm_setup import warm_up_tvm
from .device import Device, free_local_port

log = logging.getLogger(__name__)

SERVER_PORTS = (9090, 9190)  # tried in turn on the device, as TVM's rpc_server does
SECONDS_TO_START = 120  # importing TVM: 10-13 s under emulation (issue 53), more on a small board
SESSION_TIMEOUT_S = 120  # one candidate: upload, load, ten calls


def export_linked(compiler: str, module) -> str:
    """A built candidate as a shared library linked by `compiler` (the target's cross gcc): the
    device loads it as it is. MetaSchedule's default .tar would need a compiler on the device."""
    from tvm.support.cc import cross_compiler

    path = os.path.join(tempfile.mkdtemp(), "candidate.so")
    module.export_library(path, fcompile=cross_compiler(compiler))
    return path


def connect_forwarded(port: int, _config):
    """The runner's session (RPCRunner f_create_session): the device's server, through the forward."""
    from tvm import rpc

    return rpc.connect("127.0.0.1", port, session_timeout=SESSION_TIMEOUT_S)


class ServerOutput:
    """Reads a server's output for its whole life, in a thread of its own (a full pipe would stall
    it), and tells when a line matches or the output ended."""

    def __init__(self, process: subprocess.Popen, pattern: str) -> None:
        self.lines: list[str] = []
        self.match: re.Match | None = None
        self.event = threading.Event()
        self.thread = threading.Thread(target=self.read, args=(process, re.compile(pattern)), daemon=True)
        self.thread.start()

    def read(self, process: subprocess.Popen, pattern: re.Pattern) -> None:
        for line in process.stdout:
            self.lines.append(line.rstrip())
            if self.match is None:
                log.info("device: %s", line.rstrip())
                self.match = pattern.search(line)
                if self.match:
                    self.event.set()
        self.event.set()  # ended

    def wait(self, seconds: float) -> re.Match | None:
        self.event.wait(seconds)
        return self.match


@contextlib.contextmanager
def device_server(device: Device, threads: int) -> Iterator[int]:
    """TVM's RPC server on the device, for as long as the block runs; yields the local port that
    reaches it. The server's candidates run on `threads` cores there, as the bundles do."""
    server = device.start([device.python, "-m", "tvm.exec.rpc_server", "--host", "127.0.0.1",
                           "--port", str(SERVER_PORTS[0]), "--port-end", str(SERVER_PORTS[1])],
                          env={"TVM_NUM_THREADS": str(threads)}, cwd=device.folder("rpc"), until_stdin_closes=True)
    tunnel = None
    try:
        output = ServerOutput(server, r"bind to [\d.]+:(\d+)")
        bound = output.wait(SECONDS_TO_START)
        if bound is None:
            raise device.error(f"TVM's RPC server did not start there (install the TVM bundle's requirements.txt "
                               f"for {device.python}): {' | '.join(output.lines[-3:]) or 'no output'}")
        local = free_local_port()
        tunnel = subprocess.Popen(device.ssh_command(None, forward=f"{local}:127.0.0.1:{bound.group(1)}"),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ready_by = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", local), timeout=2):
                break
            if tunnel.poll() is not None or time.monotonic() > ready_by:
                tunnel.kill()  # its stderr is read to its end next
                raise device.error(f"forwarding port {local} to its RPC server failed: "
                                   f"{tunnel.stderr.read().decode(errors='replace').strip()[-300:] or 'timed out'}")
            time.sleep(0.2)
        log.info("TVM RPC server on %s port %s, reached at 127.0.0.1:%d", device.ssh, bound.group(1), local)
        yield local
    finally:
        if tunnel is not None:
            tunnel.kill()
            tunnel.wait()
        with contextlib.suppress(OSError):
            server.stdin.close()  # the device kills its server (Device.start)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def device_runner(port: int):
    """MetaSchedule's RPC runner, one candidate at a time on the device through `port`. The
    tracker fields are required by RPCConfig and unused: the session comes from the forward."""
    from tvm.s_tir import meta_schedule as ms

    config = ms.runner.RPCConfig(tracker_host="unused", tracker_port=1, tracker_key="device",
                                 session_timeout_sec=SESSION_TIMEOUT_S)
    return ms.runner.RPCRunner(rpc_config=config, evaluator_config=evaluator_config(),
                               f_create_session=functools.partial(connect_forwarded, port), max_workers=1)


def tune_on_device(tasks: dict, device: Device, compiler: str, cache_root: str | Path, out: str | Path,
                   trials: int, min_trials: int, seed: int, population: int, warm_start: str,
                   seed_files: list[str], seed_traces: int, cost_model: str) -> dict:
    """Tune one graph's tasks for the target, every candidate timed on the device; resumable like
    a host shard (its persistent database is keyed by the target's LLVM target and the graph)."""
    threads = tasks["target"].get("num-cores") or 1
    warm_up_tvm(threads)
    with device_server(device, threads) as port:
        return tune_planned_shard(tasks, 0, 1, cache_root, out, seed_files, trials, min_trials, seed, population,
                                  warm_start, seed_traces, cost_model, runner=device_runner(port),
                                  export=functools.partial(export_linked, compiler),
                                  notes={"timed_on": {"ssh": device.ssh, "port": device.port, "runner": "TVM RPC"}})
