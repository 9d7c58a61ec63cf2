"""The one timing code of the project: batch-1 calls on a preloaded image.

In one process, `time_interleaved` takes runners in turns (`bench` without --isolated). The
workflow's protocol (`side_by_side`) runs each variant in a `TimedProcess` of its own, which
imports only its runtime and times blocks of calls when asked (`serve`, run as
`python -m lprnet_opt.measure.timing`). Given a deploy bundle (runtime `bundle`), the process
runs the bundle's own predict.py, and also times it end to end: one image file to its plate.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..runtimes import Runner, load_spec, precision_of
from .contention import process_cpu_seconds

log = logging.getLogger(__name__)


def time_interleaved(runners: dict[str, Runner], sample: np.ndarray, warmup: int, runs: int,
                     block: int = 10, settle_s: float = 0.02) -> dict[str, np.ndarray]:
    """Per-call milliseconds for each runner: runners take turns in blocks of `block` calls.

    Call-by-call alternation made each runtime pay for the other's thread pool still spinning
    after its last call (TVM's and OpenMP's workers both spin-wait; measured: TVM speedups
    moved 17-18% between two runs). Blocks, a short settle pause between them, and one
    untimed call at the start of each block keep the pools from overlapping, while the order
    reverses every round so slow drift of the machine still hits every runner alike.
    """
    names = list(runners)
    for name in names:
        for _ in range(warmup):
            runners[name](sample)
    times = {name: [] for name in names}
    rounds = max(1, -(-runs // block))
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            time.sleep(settle_s)
            runners[name](sample)
            for _ in range(block):
                start = time.perf_counter()
                runners[name](sample)
                times[name].append((time.perf_counter() - start) * 1e3)
        if rounds >= 4 and (r + 1) % (rounds // 4) == 0:
            log.info("timing: %d/%d rounds", r + 1, rounds)
    return {name: np.array(t[:runs]) for name, t in times.items()}


def throughput(runner: Runner, images: np.ndarray, batch: int, runs: int) -> float:
    sample = np.ascontiguousarray(np.resize(images, (batch, *images.shape[1:])))
    runner(sample)
    start = time.perf_counter()
    for _ in range(runs):
        runner(sample)
    return batch * runs / (time.perf_counter() - start)


def spread(values: np.ndarray) -> dict[str, float]:
    return {k: round(float(np.percentile(values, q)), 4) for k, q in (("median", 50), ("p10", 10), ("p90", 90))}


# ---- Each variant alone in its own process, round after round (the workflow's protocol) ----

# A timing process answers on stdout with lines that start with this, so that whatever a
# runtime prints there itself is skipped.
REPLY = "@timing "
BUNDLE = "bundle"  # the runtime name for a deploy bundle's folder (results/deploy/<variant>)


def load_bundle(folder: str | Path, threads: int):
    """A deploy bundle's predict.py, imported from its file, loaded: `.infer` and `.predict`."""
    spec = importlib.util.spec_from_file_location("lprnet_bundle_predict", Path(folder) / "predict.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load(threads)


def serve(runtime: str, artifact: str, sample: np.ndarray, threads: int, warmup: int, image: str | None = None,
          batch: int = 0) -> None:
    """What a timing process does: load one artifact with its runtime (or a bundle's
    predict.py), warm up (with `batch`, one batch call too), reply with the warm-up's median
    call, then answer on stdin "block N" (one untimed call, then N timed ones; replies their
    milliseconds), "e2e N" (the same for the bundle's `predict` on the image file `image`:
    read, preprocess, infer, decode), "batch N" (N timed calls at batch `batch`; replies
    images per second) and "finish" (peak RSS and precision; then exits)."""
    if runtime == BUNDLE:
        predictor = load_bundle(artifact, threads)
        runner = predictor.infer
    else:
        predictor, runner = None, load_spec(runtime, artifact, threads)
    warm = time_interleaved({"v": runner}, sample, 0, max(warmup, 1), block=max(warmup, 1), settle_s=0.0)["v"]
    batched = np.ascontiguousarray(np.resize(sample, (batch, *sample.shape[1:]))) if batch else None
    if batch:
        runner(batched)
    end_to_end = (lambda _: predictor.predict([image])) if predictor is not None and image else None
    e2e_ms = float(np.median(time_interleaved({"v": end_to_end}, sample, 0, 3, block=3, settle_s=0.0)["v"])) \
        if end_to_end else None
    print(REPLY + json.dumps({"ready": True, "call_ms": float(np.median(warm)), "e2e_ms": e2e_ms}), flush=True)
    for line in sys.stdin:
        command, *numbers = line.split()
        if command in ("block", "e2e"):
            # One untimed call first (caches and thread pools are cold after the other
            # processes' blocks), then the timed ones; the parent does the pausing.
            calls = int(numbers[0])
            call = runner if command == "block" else end_to_end
            times = time_interleaved({"v": call}, sample, 0, calls, block=calls, settle_s=0.0)["v"]
            print(REPLY + json.dumps([round(float(t), 5) for t in times]), flush=True)
        elif command == "batch":
            print(REPLY + json.dumps(throughput(runner, batched, batch, int(numbers[0]))), flush=True)
        elif command == "finish":
            # Peak RSS of a process that holds only this runtime (torch only for torch runtimes).
            print(REPLY + json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                                      "torch_imported": "torch" in sys.modules,
                                      # What the runtime read back of its precision in this process.
                                      "precision": precision_of(runner)}), flush=True)
            return


class TimedProcess:
    """One variant's runtime loaded and warmed up in a fresh Python process of its own, which
    imports only that runtime and times blocks of calls when asked."""

    def __init__(self, runtime: str, artifact: str | Path, sample: Path, threads: int, warmup: int,
                 wait: bool = True, image: str | Path | None = None, batch: int = 0) -> None:
        """Start the process; with `wait`, return once it has loaded and warmed up (else call
        `ready` before timing it: processes can load side by side, which nothing times).
        A `bundle` process with an `image` file also answers `block(n, "e2e")`; with `batch`,
        `images_per_second(n)`."""
        self.label = f"{artifact} ({runtime})"
        command = [sys.executable, "-m", "lprnet_opt.measure.timing", runtime, str(artifact), str(sample), str(threads),
                   str(warmup), str(batch), *([str(image)] if image else [])]
        # The warm-up's median call (and end-to-end call) in milliseconds, once ready: the
        # first estimate that sizes this process's blocks to a duration.
        self.call_ms: float | None = None
        self.e2e_ms: float | None = None
        # Inductor compiles in this process, not in a pool of workers that could outlive it and
        # whose CPU time would then look like other work (ForeignLoad).
        env = {**os.environ, "TORCHINDUCTOR_COMPILE_THREADS": "1"}
        self.errors = tempfile.TemporaryFile(mode="w+")  # a pipe could fill up and stall the process
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors,
                                        text=True, env=env)
        self.paused = False
        if wait:
            self.ready()

    def pause(self) -> None:
        """Stop every thread of the process (SIGSTOP) until its next request. A runtime's pool
        spins after a call (TVM's for 165 ms, ONNX Runtime's 48 ms, torch's 16 ms after a
        block here), and the next process's block may not start until it is quiet; waiting it
        out took 18 s of a default round's 33 s of turns (AMD EPYC, 13 variants). Stopped, it
        is quiet at once. The block's untimed first call, after `resume`, absorbs the restart."""
        if not self.paused and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.paused and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
        self.paused = False

    def ready(self) -> None:
        """Wait until the process has loaded its runtime and warmed up."""
        reply = self._reply()
        self.call_ms, self.e2e_ms = reply["call_ms"], reply["e2e_ms"]

    def _reply(self):
        for line in self.process.stdout:
            if line.startswith(REPLY):
                return json.loads(line[len(REPLY):])
        self.process.wait()
        self.errors.seek(0)
        errors = self.errors.read().strip()
        last = errors.splitlines()[-1] if errors else f"exit status {self.process.returncode}"
        raise RuntimeError(f"timing {self.label} alone failed: {last}\n{errors[-2000:]}")

    def _ask(self, line: str):
        self.resume()
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self._reply()

    def block(self, calls: int, command: str = "block") -> list[float]:
        return self._ask(f"{command} {calls}")

    def images_per_second(self, calls: int) -> float:
        return self._ask(f"batch {calls}")

    def cpu_seconds(self) -> float | None:
        """CPU time of all the process's threads so far (None off Linux)."""
        return process_cpu_seconds(self.process.pid)

    def wait_quiet(self, window_s: float = 0.005, limit_s: float = 1.0) -> None:
        """Return once the process's threads used less than a tenth of `window_s` of CPU over
        `window_s`: runtimes' worker threads spin after a call (TVM's for over 50 ms here), and
        a spinning pool beside the next process's block made ONNX Runtime 3x slower in a round."""
        end = time.monotonic() + limit_s
        last = self.cpu_seconds()
        while last is not None and time.monotonic() < end:
            time.sleep(window_s)
            now = self.cpu_seconds()
            if now is None or now - last < 0.1 * window_s:
                return
            last = now

    def finish(self) -> dict:
        result = self._ask("finish")
        # Killed, not left to exit: everything is measured, and Python's teardown of a loaded
        # runtime took up to 2 s a process (torch with inductor), 7.7 s for a default round
        # of nine processes, one after another. Reaped, so its CPU time counts as this process's
        # children's (ForeignLoad).
        self.kill()
        return result

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # SIGKILL ends a stopped process too
            self.process.wait()
        self.errors.close()


# Runtimes whose processes compile at load (inductor: 6-9 s of CPU against 0.2-3 s for the
# others, AMD EPYC). They start first, so that the quick ones load beside them.
COMPILING = ("exported_inductor", "inductor")


def start_loaded(specs: dict[str, dict], limit: int) -> dict[str, TimedProcess]:
    """A `TimedProcess` per spec (its keyword arguments), in the order given, at most `limit`
    loading at once; each is paused once ready. Thirteen default variants all loading at once
    on 2 cores took 27-29 s a round; two at a time, the compiling ones first, 20.4 s."""
    waiting, loading, loaded = list(specs), {}, {}
    try:
        while waiting or loading:
            while waiting and len(loading) < max(1, limit):
                name = waiting.pop(0)
                loading[name] = TimedProcess(**specs[name], wait=False)
            by_pipe = {process.process.stdout: name for name, process in loading.items()}
            readable, _, _ = select.select(list(by_pipe), [], [])
            for pipe in readable:
                process = loaded[by_pipe[pipe]] = loading.pop(by_pipe[pipe])
                process.ready()  # raises with the process's error if it died
                process.pause()  # until its first turn
    except BaseException:
        for process in [*loading.values(), *loaded.values()]:
            process.kill()
        raise
    return {name: loaded[name] for name in specs}


# Calls in a block, whatever its target duration: a median of fewer is one call's noise, and a
# block of more than this many sub-0.1-ms calls gains nothing.
MIN_BLOCK_CALLS, MAX_BLOCK_CALLS = 5, 500


def calls_for(block_ms: float, call_ms: float | None) -> int:
    """Calls that fill a block of about `block_ms` at `call_ms` a call (an autorange): a 6 ms
    eager row then costs what a 0.2 ms INT8 row costs, not 30 times more."""
    if not call_ms or call_ms <= 0:
        return MIN_BLOCK_CALLS
    return int(min(MAX_BLOCK_CALLS, max(MIN_BLOCK_CALLS, round(block_ms / call_ms))))


def time_round(processes: dict[str, TimedProcess], calls: dict[str, int], e2e_calls: dict[str, int] | None = None,
               batch_calls: int = 0, settle_s: float = 0.005) -> dict[str, dict]:
    """One round: every process takes one turn, in the order given; a turn is a block of
    `calls[name]` batch-1 calls, then (with `e2e_calls`) a block of end-to-end calls, then
    (with `batch_calls`) that many timed calls at the processes' batch size. Returns per
    process its "times" (ms), "e2e" (ms) and "images_per_second" (None when not asked).

    Machine speed on this shared host drifts within seconds (eager's medians of consecutive
    200-call blocks in one process: 8.8 then 5.6 ms), so variants timed one after another
    each catch a different speed. Turns of tens of milliseconds put every variant of a round
    under the same speed, and the round's ratios cancel it. After its turn a process is
    stopped (`TimedProcess.pause`) and must be quiet before the next block (`wait_quiet`), so
    no thread pool spins beside another process's block.
    """
    out = {}
    for name, process in processes.items():
        time.sleep(settle_s)
        times = process.block(calls[name])
        ends = process.block(e2e_calls[name], "e2e") if e2e_calls else []
        ips = process.images_per_second(batch_calls) if batch_calls else None
        process.pause()
        process.wait_quiet()
        out[name] = {"times": times, "e2e": ends, "images_per_second": ips}
    return out


def time_alone(runtime: str, artifact: str | Path, sample: Path, threads: int, warmup: int, runs: int,
               throughput_batch: int = 0, throughput_runs: int = 0) -> dict:
    """One artifact timed in a fresh process of its own, with nothing else taking turns:
    `runs` batch-1 calls, and with `throughput_batch`, `throughput_runs` calls at that batch."""
    process = TimedProcess(runtime, artifact, sample, threads, warmup, batch=throughput_batch)
    try:
        turn = time_round({"v": process}, {"v": runs}, batch_calls=throughput_runs if throughput_batch else 0)["v"]
        return {"times_ms": turn["times"], "throughput_ips": turn["images_per_second"], **process.finish()}
    finally:
        process.kill()


if __name__ == "__main__":
    # A timing process: python -m lprnet_opt.measure.timing RUNTIME ARTIFACT SAMPLE.npy THREADS WARMUP BATCH [IMAGE]
    runtime_, artifact_, sample_, threads_, warmup_, batch_, *image_ = sys.argv[1:]
    serve(runtime_, artifact_, np.load(sample_), int(threads_), int(warmup_), image_[0] if image_ else None,
          int(batch_))
