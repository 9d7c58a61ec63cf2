"""The timing protocol run on a target's device (rule target_timing copies this package's
timing modules there, `cross/device_timing.KIT`, beside the bundles):

    PYTHONPATH=kit python -m lprnet_opt.measure.on_device REQUEST.json OUTPUT.json

REQUEST names the bundles (variant -> [runtime, folder]), the preprocessed plate (.npy) and its
image file, the settings (`side_by_side.TimingSettings`) and the reference variant. The record is
`side_by_side.timing_record`'s, made on the device; progress goes to stderr, which ssh carries back.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from ..atomic import write_json
from .side_by_side import TimingSettings, timing_record


def main(request_path: str, output: str) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    request = json.loads(Path(request_path).read_text())
    settings = TimingSettings(**request["settings"])
    bundles, reference = request["bundles"], request["reference"]
    record = timing_record({v: tuple(b) for v, b in bundles.items()}, Path(request["sample"]), settings,
                           eager=reference, peer=reference, bundles={v: folder for v, (_, folder) in bundles.items()},
                           image=Path(request["image"]))
    write_json(record, output)


if __name__ == "__main__":
    main(*sys.argv[1:3])
