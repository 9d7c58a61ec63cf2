from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lprnet_opt.cross.device import free_local_port
from lprnet_opt.synth import write_synthetic_folder

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LPRNET_SHARED", REPO.parent / "shared")) / "lprnet_pytorch"
REAL_WEIGHTS = SHARED / "Final_LPRNet_model.pth"
REAL_IMAGES = SHARED / "test"


@pytest.fixture(scope="session")
def real_weights() -> Path:
    if not REAL_WEIGHTS.is_file():
        pytest.skip(f"{REAL_WEIGHTS} absent (../shared is not beside this checkout)")
    return REAL_WEIGHTS


@pytest.fixture(scope="session")
def real_images() -> Path:
    if not REAL_IMAGES.is_dir():
        pytest.skip(f"{REAL_IMAGES} absent (../shared is not beside this checkout)")
    return REAL_IMAGES


@pytest.fixture(scope="session")
def plates48(tmp_path_factory):
    """48 generated plates (seed 11), loaded: what the INT8 build tests calibrate and judge on."""
    from lprnet_opt.data import load_folder

    folder = tmp_path_factory.mktemp("plates48")
    write_synthetic_folder(folder, 48, seed=11)
    return load_folder(folder)


@pytest.fixture(scope="session")
def plate_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plates")
    write_synthetic_folder(folder, 24, seed=7)
    return folder


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory) -> Path:
    from lprnet_opt.model import LPRNet

    torch.manual_seed(0)
    model = LPRNet()
    # Non-trivial BatchNorm statistics, so folding and quantization see real ranges.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("weights") / "random.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (6, 3, 24, 94)).astype(np.float32)


def own_judge(images: np.ndarray, weights: Path):
    """INT8 judge plates labelled with the fp32 source's own readings (the project's model and
    decoder): the source reads each one right, so any plate an INT8 build reads otherwise is lost."""
    from lprnet_opt.chars import greedy_decode
    from lprnet_opt.checkpoint import load_model
    from lprnet_opt.compress.int8_guard import Judge
    from lprnet_opt.model import predict_logits

    return Judge(images, greedy_decode(predict_logits(load_model(weights), images)), "source's own plates")


def quick_timing(**overrides):
    """Tiny timing settings: the records are real, the numbers are not the point."""
    from lprnet_opt.measure.side_by_side import TimingSettings

    settings = dict(threads=1, warmup=1, process_sets=2, rounds=4, block_ms=2.0, foreign_load_limit=2.0,
                    max_retimed_rounds=0, throughput_batch=2)
    return TimingSettings(**{**settings, **overrides})


@pytest.fixture(scope="session")
def measured(tmp_path_factory, random_weights, plate_folder) -> Path:
    """A results folder with eval records made by the real builders and `measure_variant`:
    the baseline, a 50% pruned variant (no distillation) and its ONNX Runtime export, their
    judge readings (`judge_reading`, on other generated plates) and their timing.json from the
    real timing stage."""
    from lprnet_opt.checkpoint import load_model
    from lprnet_opt.data import load_folder
    from lprnet_opt.compress.distill import DistillSettings
    from lprnet_opt.kinds import KINDS
    from lprnet_opt.measure.accuracy import measure_variant, predict_reference
    from lprnet_opt.measure.plates import judge_reading
    from lprnet_opt.runtimes import load_runner
    from lprnet_opt.onnx_export import export_onnx
    from lprnet_opt.compress.prune import build_pruned
    from lprnet_opt.atomic import write_json
    from lprnet_opt.record import write_record
    from lprnet_opt.measure.side_by_side import timing_record

    results = tmp_path_factory.mktemp("results")
    plates = load_folder(plate_folder)
    pruned = results / "pruned.pt"
    no_distill = DistillSettings(epochs=0, batch_size=4, learning_rate=1e-4, temperature=2.0, seed=0)
    build = build_pruned(random_weights, 0.5, plates.images[:4], no_distill, pruned)
    export_onnx(load_model(pruned), results / "pruned.onnx")
    specs = {  # variant: (kind, artifact, reference, weights, build)
        "baseline": ("baseline", random_weights, None, random_weights, {}),
        "pruned": ("pruned", pruned, random_weights, pruned, build),
        "pruned_onnx": ("onnx", results / "pruned.onnx", pruned, pruned, {}),
    }
    sources = {"pruned_onnx": "pruned"}
    baseline = predict_reference(random_weights, plates.images, threads=1)
    judge_folder = results / "judge_plates"
    write_synthetic_folder(judge_folder, 12, seed=8)
    judge = load_folder(judge_folder)
    for variant, (kind, artifact, reference, weights, info) in specs.items():
        predicted = None if reference is None else predict_reference(reference, plates.images, threads=1)
        record = measure_variant(variant, kind, artifact, predicted, weights, None if reference is None else baseline,
                                 plates.images, plates.labels, threads=1, build=info, source=sources.get(variant))
        write_record(record, results / "eval" / f"{variant}.json")
        runner = load_runner(KINDS[kind].runtime, artifact, 1)
        write_json(judge_reading(variant, runner, judge.images, judge.labels, "generated plates", record.fit),
                   results / "judge" / f"{variant}.json")
    np.save(results / "sample.npy", plates.images[:1])
    artifacts = {v: (KINDS[kind].runtime, str(artifact)) for v, (kind, artifact, *_) in specs.items()}
    write_json(timing_record(artifacts, results / "sample.npy", quick_timing(), "baseline", "pruned_onnx"),
               results / "timing.json")
    return results


def render_offline(html: Path, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """The page's DOM after headless Chromium ran its scripts with no network at all, and each
    chart's drawn SVG by name. Every chart must have drawn marks and the console no errors."""
    import re
    import shutil
    import subprocess

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("chromium not installed (CI installs Debian's chromium)")
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         # No network at all: every host is unresolvable and every proxy connection refused.
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--window-size=1280,4000",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000", "--dump-dom", html.as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    dom = result.stdout
    charts = dict(re.findall(r'<div class="chart[^"]*" id="chart-\d+" data-name="(\w+)"[^>]*>(.*?)</div>', dom, re.S))
    for name, inner in charts.items():
        assert "<svg" in inner and drawn_marks(inner), f"chart {name} drew no marks"
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line and "rror" in line]
    assert not console, console
    return dom, charts


def drawn_marks(svg: str) -> dict[str, int]:
    """Vega's drawn marks by type ("rule", "symbol", "line", ...), from their ARIA descriptions."""
    import collections
    import re

    found = [d.removesuffix(" mark") for d in re.findall(r'aria-roledescription="([^"]+)"', svg)
             if not d.endswith("container") and d not in ("axis", "legend", "title")]
    return dict(collections.Counter(found))


@pytest.fixture(scope="session")
def local_sshd(tmp_path_factory) -> dict:
    """An sshd of its own on 127.0.0.1 (a free port, its own host key, one client key), as a
    config target.device: the device path's transport, copy, remote run and fetch, for real.
    CI installs openssh-server (.ci/run); elsewhere the test is skipped, saying so."""
    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").is_file() else None)
    if sshd is None or shutil.which("ssh") is None:
        pytest.skip("no sshd/ssh here: apt-get install openssh-server openssh-client")
    home = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)], check=True)
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    port = free_local_port()
    (home / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {home / 'host_key'}\nAuthorizedKeysFile {home / 'authorized_keys'}\n"
        f"PidFile {home / 'sshd.pid'}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nPermitRootLogin prohibit-password\n")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation folder, when it runs as root
    # Its log goes to a file: a pipe nobody reads would fill and stall the daemon.
    log = (home / "sshd.log").open("w")
    daemon = subprocess.Popen([sshd, "-D", "-e", "-f", str(home / "sshd_config")], stderr=log)
    options = ["-i", str(home / "client_key"), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "LogLevel=ERROR"]
    device = {"ssh": f"{getpass.getuser()}@127.0.0.1", "port": port, "options": options, "python": sys.executable,
              "workdir": str(home / "device")}
    deadline = time.monotonic() + 20
    while subprocess.run(["ssh", "-o", "BatchMode=yes", "-p", str(port), *options, device["ssh"], "true"],
                         capture_output=True).returncode != 0:
        if daemon.poll() is not None or time.monotonic() > deadline:
            daemon.kill()
            pytest.fail(f"sshd on 127.0.0.1:{port} did not take a login: {(home / 'sshd.log').read_text()[-1000:]}")
        time.sleep(0.2)
    yield device
    daemon.terminate()
    daemon.wait()
    log.close()
