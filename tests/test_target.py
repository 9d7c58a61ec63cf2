"""Targets of another architecture: the registry, the config checks, the userland's errors.
The emulated build and check run in tests/test_pipeline.py (the aarch64 overlay)."""

from __future__ import annotations

import pytest

from lprnet_opt.config import ConfigError, validate_config
from lprnet_opt.cross.check import sample_indices
from lprnet_opt.targets import ARCHES, CPUS, cpuinfo_text, target_key, tvm_target
from lprnet_opt.cross.userland import UserlandError, check_ready
from lprnet_opt.kinds import KINDS, on_target, target_variants, with_sources

PI = {"name": "pi", "arch": "aarch64", "cpu": "cortex-a76"}


@pytest.mark.parametrize("change, key", [
    ({"cpu": "cortex-a78"}, "target.cpu"), ({"arch": "riscv64"}, "target.arch"), ({"name": "Pi 5"}, "target.name"),
    ({"device": "pi@gate"}, "target.device"), ({"device": {"ssh": "pi@gate", "prot": 22}}, "target.device"),
    ({"device": {"ssh": "-oProxyCommand=x"}}, "target.device.ssh"),
    # x86_64 is not emulated here: only a device checks and times it.
    ({"arch": "x86_64", "cpu": "x86-64-v3"}, "target.device"), ({"cpu": "x86-64-v3"}, "target.cpu")])
def test_a_bad_target_is_one_line_naming_its_key(change, key):
    with pytest.raises(ConfigError, match=rf"^config key {key}") as raised:
        validate_config({"target": {**PI, **change}})
    assert "\n" not in str(raised.value)


def test_a_target_gets_its_defaults_and_a_folder_per_cpu():
    target = validate_config({"target": PI})["target"]
    assert target["check_plates"] == 200 and target["device"] is None and target["userland"] is None
    assert target_key(target) == target_key({**target, "check_plates": 5})  # a sample size is no new build
    assert target_key(target) != target_key({**target, "cpu": "cortex-a72"})
    assert validate_config({})["target"] is None


def test_tvm_cross_target_names_triple_and_cpu():
    assert tvm_target(PI, 2) == {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a76", "num-cores": 2}


def test_every_emulated_cpu_has_a_qemu_model_and_a_cpuinfo_that_says_it():
    for cpu in CPUS.values():
        assert cpu.arch in ARCHES and bool(cpu.qemu) == (ARCHES[cpu.arch].qemu is not None)
        if not cpu.qemu:
            continue
        text = cpuinfo_text(cpu, 2)
        assert text.count("processor\t:") == 2 and f"CPU part\t: {cpu.part}" in text and cpu.features in text
    assert "asimddp" in CPUS["cortex-a76"].features and "asimddp" not in CPUS["cortex-a72"].features


def test_every_kind_is_built_for_a_target_or_says_why_not():
    variants = with_sources({"baseline": {"kind": "baseline"}, "bf16": {"kind": "openvino", "precision": "bf16"},
                             **{name: {"kind": name} for name in KINDS if name != "baseline"}})
    for name in variants:
        how = on_target(name, variants)
        assert how in ("copy", "tvm") or how.startswith("not built for a target: "), (name, how)
    assert set(target_variants(variants)) == {"tvm", "onnx", "openvino", "onnx_int8", "openvino_int8"}
    assert "bf16" in on_target("bf16", variants)


def test_samples_spread_over_the_split_in_order():
    assert sample_indices(1000, 5) == [0, 250, 500, 749, 999]
    assert sample_indices(4, 10) == [0, 1, 2, 3]


def test_a_missing_userland_is_one_line_with_the_command_that_makes_it(tmp_path):
    with pytest.raises(UserlandError, match=r"^config key target.userland: no aarch64 userland at .* set it up "
                                            r"with: python -m lprnet_opt.cross.userland --arch aarch64"):
        check_ready(ARCHES["aarch64"], tmp_path)


def test_openvino_gets_its_arm_default_f16_form_only_on_cpus_with_fp16_arithmetic():
    from lprnet_opt.targets import target_forms

    variants = with_sources({"baseline": {"kind": "baseline"}, "openvino": {"kind": "openvino"},
                             "onnxruntime": {"kind": "onnx"}})
    assert target_forms(variants, PI) == {"openvino": ("openvino", "f32"), "openvino_f16": ("openvino", "f16"),
                                          "onnxruntime": ("onnxruntime", "f32")}
    assert "openvino_f16" not in target_forms(variants, {**PI, "cpu": "cortex-a72"})


def test_a_device_over_ssh_takes_files_runs_its_python_and_gives_back_what_it_wrote(local_sshd, tmp_path):
    """The transport of target.device against a real sshd on 127.0.0.1: a push replaces the
    folder, a run streams stderr and fails with the device's own last lines, a fetch reads a file."""
    from lprnet_opt.cross.device import Device, DeviceError

    device = Device.of({"device": local_sshd})
    (tmp_path / "a.txt").write_text("plate")
    device.push({"x/a.txt": tmp_path / "a.txt", "b.txt": tmp_path / "a.txt"}, device.folder("t"))
    seen = []
    device.run([device.python, "-c", "import sys; sys.stderr.write('1/2\\n2/2\\n'); open('out', 'w').write("
                "open('x/a.txt').read().upper())"], timeout=60, cwd=device.folder("t"), progress=seen.append)
    assert seen == ["1/2", "2/2"] and device.fetch(device.folder("t", "out")) == b"PLATE"
    device.push({"c.txt": tmp_path / "a.txt"}, device.folder("t"))  # the old copy is gone
    with pytest.raises(DeviceError, match=r"exit 3\): gone"):
        device.run([device.python, "-c", "import os, sys; sys.stderr.write('gone' if not os.path.exists('b.txt') "
                    "else 'kept'); sys.exit(3)"], timeout=60, cwd=device.folder("t"))
    with pytest.raises(DeviceError, match="reading"):
        device.fetch(device.folder("t", "missing"))
    with pytest.raises(DeviceError, match=r"still running after 2 s"):  # a hung command ends at its deadline
        device.run([device.python, "-c", "import time; print('started', flush=True); time.sleep(60)"], timeout=2)


def test_a_device_target_needs_the_onnx_runtime_peer_its_timings_are_ratios_to():
    device = {"name": "box", "arch": "x86_64", "cpu": "x86-64-v3", "device": {"ssh": "me@box"}}
    peer = {"baseline": {"kind": "baseline"}, "onnxruntime": {"kind": "onnx"}}
    target = validate_config({"target": device, "variants": peer})["target"]
    assert target["device"] == {"ssh": "me@box", "port": None, "options": [], "python": "python3",
                                "workdir": "lprnet-opt"}
    with pytest.raises(ConfigError, match=r"^config key target.device: .*kind onnx"):
        validate_config({"target": device, "variants": {"baseline": {"kind": "baseline"}}})


def test_an_unreachable_device_is_one_line_naming_the_key_and_ssh_s_reason(tmp_path):
    """Nothing listens on the port: the copy fails at once with ssh's own reason, in one line."""
    from lprnet_opt.cross.device import Device, DeviceError, free_local_port

    port = free_local_port()
    (tmp_path / "a.txt").write_text("plate")
    device = Device.of({"device": {"ssh": "nobody@127.0.0.1", "port": port, "options": ["-o", "LogLevel=ERROR"]}})
    with pytest.raises(DeviceError, match=rf"^config key target.device \(nobody@127.0.0.1 port {port}\): copying 1 "
                                          r"files to lprnet-opt/x failed: .*[Cc]onnection refused") as raised:
        device.push({"a.txt": tmp_path / "a.txt"}, device.folder("x"))
    assert "\n" not in str(raised.value)


def rpc_servers_in(folder: str) -> list:
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        # the server and the children it serves sessions in
        if "tvm.exec." in " ".join(process.info["cmdline"] or []) and process.info["cwd"] == folder:
            found.append(process)
    return found


def test_tvms_rpc_server_runs_on_the_device_through_a_forward_and_stops_with_its_block(local_sshd):
    """The RPC path of tuning on the device (cross/rpc.py): TVM's server starts there on the
    device's 127.0.0.1, a session reaches it through the SSH forward and moves a file there and back,
    and the server is gone after the block; a device Python without TVM is one line naming the key."""
    import time

    from tvm import rpc

    from lprnet_opt.cross.device import Device, DeviceError
    from lprnet_opt.cross.rpc import device_server

    device = Device.of({"device": local_sshd})
    folder = device.folder("rpc")  # the server's working folder (workdir: absolute here)
    with device_server(device, 1) as port:
        session = rpc.connect("127.0.0.1", port, session_timeout=30)
        session.upload(bytearray(b"plate"), "x.bin")  # a candidate's way there and back
        assert session.cpu(0).exist and bytes(session.download("x.bin")) == b"plate"
        assert len(rpc_servers_in(folder)) >= 1
    deadline = time.monotonic() + 20
    while rpc_servers_in(folder) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not rpc_servers_in(folder)

    # A Python without TVM there (no Python at all: /usr/bin/python3 may be absent from the machine).
    without_tvm = Device.of({"device": {**local_sshd, "python": "/nonexistent/python3"}})
    with pytest.raises(DeviceError, match=r"^config key target.device \(.*\): TVM's RPC server did not start there "
                                          r"\(install the TVM bundle's requirements.txt for /nonexistent/python3\): "
                                          r".*No such file or directory") as raised:
        with device_server(without_tvm, 1):
            pass
    assert "\n" not in str(raised.value)
