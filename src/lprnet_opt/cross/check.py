"""A target bundle checked on the target's numerics (rule target_check):
results/target/<target key>/<variant>/check.json.

The bundle's own predict.py reads a stated sample of judge and evaluation plates on the device
itself when the target has one (cross/device.py), else in the target's userland, its CPU
emulated as the target's (cross/userland.py). What is compared:

- evaluation sample (reported, never used to choose): the plates against the host's reading of
  the same variant (parity: fp32 forms must agree on at least PARITY of them), against the host's
  eager fp32 source, and against the labels;
- judge sample (the guard): agreement with the host's eager fp32 source on the same plates, held
  against `quantization.min_agreement` as on the host, and the paired drop against the
  baseline's host reading of the same plates, held against the variant's `max_drop` if it has one.

Time is never taken here, on a device or not: the record has no latency (rule target_timing
times the bundles on the device, side by side).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from ..metrics import agreement
from ..runtimes import load_runner
from ..measure.plates import REFERENCE_BATCH, predict_plates
from ..measure.stats import paired_drop
from ..data import load_plates
from ..targets import resolve, target_key, target_record
from .device import Device, folder_files
from .userland import check_ready, emulated_python, userland_dir

log = logging.getLogger(__name__)

# fp32 forms must read the host's plates on this share of the evaluation sample (issue bar: 99.5%).
PARITY = 0.995
READER = Path(__file__).with_name("read_plates.py")
# Seconds an emulated plate may take before the check is called stuck (measured about 1 s for
# TVM and OpenVINO f32 under qemu 7.2 on AMD EPYC), plus the runtimes' emulated imports.
SECONDS_PER_PLATE, SECONDS_TO_LOAD = 20, 600


def sample_indices(total: int, size: int) -> list[int]:
    """`size` indices spread evenly over `total` items in their stored order (the split's
    order groups plates by name, so the first ones alone would be one region's plates)."""
    if size >= total:
        return list(range(total))
    return sorted({int(round(i)) for i in np.linspace(0, total - 1, size)})


def read_on_target(bundle: str | Path, paths: list[str], target: dict, userland: str | None, cores: int) -> dict:
    """The bundle's plates for image files `paths`, read on the target's device if it has one,
    else under emulation as the target's CPU."""
    arch, _ = resolve(target)
    if target.get("device"):
        record, where = read_on_device(bundle, paths, target)
    else:
        record, where = read_emulated(bundle, paths, target, userland, cores)
    log.info("%s: %d plates read %s in %.0f s", bundle, len(paths),
             "under emulation (not a latency)" if where["emulated"] else "on the device", record["seconds"])
    if record["machine"] != arch.name:
        raise RuntimeError(f"{bundle}: the reader ran on {record['machine']}, not the target's {arch.name} "
                           "(config keys target.arch, target.device)")
    return {"plates": record["plates"], "precision": record["precision"], **where}


def read_on_device(bundle: str | Path, paths: list[str], target: dict) -> tuple[dict, dict]:
    """The reader's record for `paths` on the device (the bundle, the plates and the reader are
    copied to a folder of their own there, and its output is fetched), and where it ran."""
    device = Device.of(target)
    here = device.folder(target_key(target), "check", Path(bundle).name)
    names = [f"images/{n:05d}{Path(path).suffix}" for n, path in enumerate(paths)]
    with tempfile.TemporaryDirectory() as scratch:
        image_list = Path(scratch) / "images.json"
        image_list.write_text(json.dumps(names))
        device.push({"read_plates.py": READER, "images.json": image_list, **folder_files(bundle, "bundle"),
                     **dict(zip(names, paths, strict=True))}, here)
    device.run([device.python, "read_plates.py", "bundle", "images.json", "plates.json"],
               timeout=SECONDS_TO_LOAD + SECONDS_PER_PLATE * len(paths), cwd=here,
               progress=lambda line: log.info("%s on %s: %s", Path(bundle).name, device.ssh, line))
    record = json.loads(device.fetch(f"{here}/plates.json"))
    return record, {"emulated": False, "device": {"ssh": device.ssh, "machine": record["machine"]}}


def read_emulated(bundle: str | Path, paths: list[str], target: dict, userland: str | None,
                  cores: int) -> tuple[dict, dict]:
    """The reader's record for `paths` under qemu-user as the target's CPU, and where it ran."""
    arch, cpu = resolve(target)
    root = userland_dir(arch, userland)
    ready = check_ready(arch, root)
    with tempfile.TemporaryDirectory() as scratch:
        images, output = Path(scratch) / "images.json", Path(scratch) / "plates.json"
        images.write_text(json.dumps([str(Path(p).resolve()) for p in paths]))
        status, lines = emulated_python(arch, cpu, root, [str(READER), str(Path(bundle).resolve()), str(images),
                                                          str(output)], cores,
                                        timeout=SECONDS_TO_LOAD + SECONDS_PER_PLATE * len(paths),
                                        progress=lambda line: log.info("%s on %s: %s", Path(bundle).name, cpu.name, line))
        if status != 0 or not output.is_file():
            raise RuntimeError(f"{bundle}: reading plates under {arch.qemu} -cpu {cpu.qemu} failed "
                               f"(exit {status}): {' | '.join(lines[-3:])}")
        record = json.loads(output.read_text())
    return record, {"emulated": True, "userland": ready, "qemu_cpu": cpu.qemu,
                    "cpuinfo": {"part": cpu.part, "features": cpu.features}}


def check_bundle(variant: str, bundle: str | Path, target: dict, userland: str | None, cores: int,
                 evaluation_paths: list[str], host_plates: list[str], judge_paths: list[str],
                 baseline_judge_correct: str, source_weights: str, sample: int, min_agreement: float,
                 max_drop: float | None, exact: bool) -> dict:
    """The check record of one target bundle (see the module docstring)."""
    if len(baseline_judge_correct) != len(judge_paths):
        raise ValueError(f"the baseline's judge reading has {len(baseline_judge_correct)} plates, the judge plates "
                         f"are {len(judge_paths)}: rerun rule judge for the baseline")
    eval_at = sample_indices(len(evaluation_paths), sample)
    judge_at = sample_indices(len(judge_paths), sample)
    eval_sample = load_plates([Path(evaluation_paths[i]) for i in eval_at])
    judge_sample = load_plates([Path(judge_paths[i]) for i in judge_at])
    read = read_on_target(bundle, [evaluation_paths[i] for i in eval_at] + [judge_paths[i] for i in judge_at],
                          target, userland, cores)
    on_eval, on_judge = read["plates"][: len(eval_at)], read["plates"][len(eval_at):]
    source = load_runner("eager", source_weights, cores)
    _, source_eval = predict_plates(source, eval_sample.images, "fp32 source, evaluation sample", REFERENCE_BATCH)
    _, source_judge = predict_plates(source, judge_sample.images, "fp32 source, judge sample", REFERENCE_BATCH)
    host_eval = [host_plates[i] for i in eval_at]
    parity = agreement(on_eval, host_eval)
    judge_agreement = agreement(on_judge, source_judge)
    baseline_correct = [baseline_judge_correct[i] == "1" for i in judge_at]
    judge_correct = [p == t for p, t in zip(on_judge, judge_sample.labels, strict=True)]
    drop = paired_drop(baseline_correct, judge_correct)
    reasons = []
    if exact and parity < PARITY:
        reasons.append(f"an fp32 form reads the host's plates on {parity:.3f} of the evaluation sample (< {PARITY})")
    if judge_agreement < min_agreement:
        reasons.append(f"agrees with its fp32 source on {judge_agreement:.3f} of the judge sample "
                       f"(< quantization.min_agreement {min_agreement})")
    if max_drop is not None and drop["drop_pt"] > max_drop:
        reasons.append(f"judge-sample drop {drop['drop_pt']:.2f} pt over its max_drop {max_drop}")
    return {
        "variant": variant, "target": target_record(target), "emulated": read["emulated"],
        # Where the plates were read: the emulated CPU, or the device.
        **{key: read.get(key) for key in ("qemu_cpu", "cpuinfo", "userland", "device")},
        "precision": read["precision"],
        "evaluation_sample": {"images": len(eval_at), "of": len(evaluation_paths), "indices": eval_at,
                              "plates": on_eval, "agreement_with_host": parity,
                              "agreement_with_source": agreement(on_eval, source_eval),
                              "accuracy": agreement(on_eval, eval_sample.labels),
                              "host_accuracy": agreement(host_eval, eval_sample.labels)},
        "judge_sample": {"images": len(judge_at), "of": len(judge_paths), "indices": judge_at,
                         "agreement_with_source": judge_agreement, "drop_vs_baseline": drop,
                         "correct": "".join("1" if c else "0" for c in judge_correct)},
        # An fp32 form of an exact kind: the goal holds it to no judge drop (report/goal.qualified).
        "exact": exact, "fit": not reasons, "unfit_reason": "; ".join(reasons) or None,
    }
