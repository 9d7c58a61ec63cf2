"""The contention guard of the timing stage: how much CPU other work used during a round,
and which rounds ran beside other work or off the machine's usual speed."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import numpy as np


class ForeignLoad:
    """CPU time that processes other than this one and its children used, per wall second.

    From /proc/stat (busy and steal time of the whole machine, steal being another guest on
    the host) minus this process's and its waited-for children's CPU time. More than half a
    core of it during a round means the round was timed beside other work. Elsewhere than
    Linux it reads 0.
    """

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            busy = (sum(fields[:3]) + sum(fields[5:8])) / os.sysconf("SC_CLK_TCK")  # user..system, irq..steal
        except (OSError, ValueError, IndexError):
            busy = 0.0
        own = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                  for f in ("ru_utime", "ru_stime"))
        return time.monotonic(), busy, own

    def cores(self) -> float:
        """Foreign cores since the last call (or since creation)."""
        now = self._sample()
        (t0, busy0, own0), self.start = self.start, now
        wall = max(now[0] - t0, 1e-6)
        return max(0.0, (now[1] - busy0) - (now[2] - own0)) / wall


def disturbed_rounds(medians: dict[str, list[float]], foreign: list[float],
                     settings) -> dict[int, tuple[float, str]]:
    """Rounds timed beside other work, or in which the variants ran off their usual speed.

    A round's drift is the median, over variants, of each variant's median in that round
    against its median over the other rounds: other work slows every variant in a round. One
    runtime alone is no yardstick: on an idle machine (0.00 foreign cores) eager PyTorch's
    medians ranged 3.65-5.73 ms across fresh processes (docs/timing-protocol.md). Returns, per
    disturbed round, a severity (to retime the worst first) and the reason.
    """
    found = {}
    rounds = len(foreign)
    for r, cores in enumerate(foreign):
        drift = float(np.median([
            m[r] / float(np.median([x for i, x in enumerate(m) if i != r])) for m in medians.values()
        ])) - 1 if rounds > 1 else 0.0
        if cores > settings.foreign_load_limit:
            found[r] = (cores, f"{cores:.2f} cores used by other processes (limit {settings.foreign_load_limit})")
        elif abs(drift) > settings.round_tolerance:
            found[r] = (abs(drift), f"variants ran {drift:+.0%} off their speed in the other rounds "
                                    f"(median over variants; tolerance {settings.round_tolerance:.0%})")
    return found
