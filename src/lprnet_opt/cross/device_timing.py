"""The target's bundles timed on its device (rule target_timing):
results/target/<target key>/timing.json.

The same side-by-side protocol as the host's timing stage (measure/side_by_side.py), run on the
device: its timing modules (KIT, standard library and numpy) go there beside the bundles, and
each bundle runs in a process of its own through its own predict.py, in short alternating rounds,
paired by round. Ratios are to the target's ONNX Runtime fp32 bundle: PyTorch is not built for a
target, so there is no eager row. Nothing here is emulated, ever.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from ..data import read_image
from ..targets import target_key, target_record
from .device import Device, folder_files

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parent.parent
# The modules the protocol needs on the device (measure/on_device.py and what it imports):
# nothing that imports torch, cv2 or a runtime; the bundles bring their own.
KIT = ("__init__.py", "atomic.py", "isa.py", "runtimes/__init__.py", "measure/__init__.py", "measure/on_device.py",
       "measure/side_by_side.py", "measure/timing.py", "measure/contention.py", "measure/stats.py",
       "measure/environment.py")
# Seconds the whole protocol may take on the device before the job gives up on it.
TIMEOUT_S = 3 * 3600


def time_on_device(target: dict, bundles: dict[str, tuple[str, str]], image: Path, settings: dict,
                   reference: str) -> dict:
    """Time every bundle (variant -> (runtime, local bundle folder)) on the target's device,
    side by side; `image` is the plate every call reads (a calibration plate), `settings` the
    config's timing settings with `threads`, `reference` the ONNX Runtime fp32 bundle."""
    device = Device.of(target)
    here = device.folder(target_key(target), "timing")
    with tempfile.TemporaryDirectory() as scratch:
        sample, request = Path(scratch) / "sample.npy", Path(scratch) / "request.json"
        np.save(sample, read_image(image)[None])
        plate = f"plate{image.suffix}"
        request.write_text(json.dumps({
            "bundles": {v: [runtime, f"bundles/{v}"] for v, (runtime, _) in bundles.items()},
            "sample": "sample.npy", "image": plate, "settings": settings, "reference": reference}))
        files = {f"kit/lprnet_opt/{name}": PACKAGE / name for name in KIT}
        for variant, (_, folder) in bundles.items():
            files.update(folder_files(folder, f"bundles/{variant}"))
        device.push({**files, "sample.npy": sample, "request.json": request, plate: image}, here)
    log.info("timing %d bundles on %s, side by side: %s", len(bundles), device.ssh, ", ".join(bundles))
    device.run([device.python, "-m", "lprnet_opt.measure.on_device", "request.json", "timing.json"],
               timeout=TIMEOUT_S, env={"PYTHONPATH": "kit"}, cwd=here,
               progress=lambda line: log.info("%s: %s", device.ssh, line))
    record = json.loads(device.fetch(f"{here}/timing.json"))
    # The reference stood in for eager in the protocol; the ratios to it are the ONNX Runtime ones.
    for variant, row in record["variants"].items():
        for key in [k for k in row if "ratio_to_eager" in k]:
            del row[key]
        row["bundle"] = bundles[variant][1]  # the local folder, not its copy on the device
    record["eager"] = None
    return {"target": target_record(target), "device": {"ssh": device.ssh, "workdir": here}, "emulated": False,
            "e2e_image": str(image), **{k: v for k, v in record.items() if k != "e2e_image"}}
