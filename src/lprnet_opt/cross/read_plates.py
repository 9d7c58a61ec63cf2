"""Run by the target's Python (under qemu-user, or on the device): read plates with a bundle.

    python read_plates.py BUNDLE_DIR IMAGE_LIST_JSON OUTPUT_JSON

Standard library and the bundle only: it imports the bundle's own predict.py, so the plates
are read exactly as a user of the bundle reads them. Writes {"plates": [...], "precision": ...,
"machine": ..., "seconds": ...} to OUTPUT_JSON, and a progress line every 25 plates to stderr
(an emulated plate takes about a second).
"""

import json
import platform
import sys
import time
from pathlib import Path


def main(bundle: str, image_list: str, output: str) -> None:
    sys.path.insert(0, bundle)
    import predict

    started = time.perf_counter()
    reader = predict.load()
    images = json.loads(Path(image_list).read_text())
    plates = []
    for index, image in enumerate(images, 1):
        plates.extend(reader.predict([image]))
        if index % 25 == 0 or index == len(images):
            print(f"{index}/{len(images)} plates", file=sys.stderr, flush=True)
    record = {"plates": plates, "precision": reader.precision, "machine": platform.machine(),
              "seconds": time.perf_counter() - started}
    partial = Path(output + ".partial")
    partial.write_text(json.dumps(record))
    partial.replace(output)


if __name__ == "__main__":
    main(*sys.argv[1:4])
