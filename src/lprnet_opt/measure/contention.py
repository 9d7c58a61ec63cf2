"""The contention guard of the timing stage: how much CPU other work, and the hypervisor, took
during a round."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Sequence
from pathlib import Path


def process_cpu_seconds(pid: int) -> float | None:
    """CPU time of all a live process's threads so far, in ns resolution (None once it is gone,
    or off Linux)."""
    try:
        tasks = Path(f"/proc/{pid}/task")
        return sum(int((t / "schedstat").read_text().split()[0]) for t in tasks.iterdir()) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class ForeignLoad:
    """CPU time that processes other than this one and its children used, per wall second, and
    the hypervisor's steal time apart.

    From /proc/stat (busy time of the whole machine, without steal) minus this process's, its
    waited-for children's and the live processes `own` (pids: the timed processes, which are
    not reaped until their set is done; counted as foreign, every round of the default run
    read 1.6-1.8 cores and was retimed). More than half a core of it during a round means the
    round was timed beside other work, and it is timed again. Steal is time another guest on
    the host took from this VM's CPUs: on a 2-core VM whose speed drifts at 0.01 cores of
    foreign load it is a likely cause the in-guest load cannot see, so it is recorded; it is
    no reason to retime, since no retime can avoid it. Elsewhere than Linux both read 0.
    """

    def __init__(self, own: Sequence[int] = ()) -> None:
        self.own = list(own)
        self.start = self._sample()

    def _sample(self) -> tuple[float, float, float, float]:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            tick = os.sysconf("SC_CLK_TCK")
            busy = (sum(fields[:3]) + sum(fields[5:7])) / tick  # user, nice, system, irq, softirq
            stolen = fields[7] / tick if len(fields) > 7 else 0.0
        except (OSError, ValueError, IndexError):
            busy = stolen = 0.0
        own = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                  for f in ("ru_utime", "ru_stime")) + sum(process_cpu_seconds(pid) or 0.0 for pid in self.own)
        return time.monotonic(), busy, own, stolen

    def cores(self) -> tuple[float, float]:
        """Foreign cores and stolen cores since the last call (or since creation)."""
        now = self._sample()
        (t0, busy0, own0, steal0), self.start = self.start, now
        wall = max(now[0] - t0, 1e-6)
        return max(0.0, (now[1] - busy0) - (now[2] - own0)) / wall, max(0.0, now[3] - steal0) / wall
