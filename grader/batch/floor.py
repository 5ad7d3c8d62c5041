"""A batch's floor: the shortest wall time it could have taken on this machine.

    meter = CpuMeter(); ...; busy = meter.busy_seconds()
    floor = batch_floor(busy, cores, longest_run)

The floor is max(busy CPU-seconds / cores, its longest run): no schedule can end before the CPU work is done
on every core, nor before its longest run. Busy CPU is read from /proc/stat (every CPU's user, nice, system,
irq, softirq and steal time), not from the grader's rusage, which misses what its sandboxes' processes
reaped. /proc/stat counts the whole machine: on a machine shared with other work the floor comes out higher
than the batch's own (so a wall time near it means less, not more).
"""

from __future__ import annotations

import os
from pathlib import Path

STAT = Path("/proc/stat")


def busy_cpu_seconds(stat: Path = STAT) -> float | None:
    """CPU-seconds spent busy on every CPU since boot, or None where /proc/stat is not there."""
    try:
        first = stat.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not first or first[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice] (guest is already in user)
    ticks = [int(x) for x in first[1:9]] + [0] * max(0, 9 - len(first))
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Busy CPU-seconds of the machine from its creation on."""

    def __init__(self, stat: Path = STAT) -> None:
        self.stat = stat
        self.start = busy_cpu_seconds(stat)

    def busy_seconds(self) -> float | None:
        now = busy_cpu_seconds(self.stat)
        return None if now is None or self.start is None else max(0.0, now - self.start)


def batch_floor(busy_seconds: float | None, cores: int, longest_run: float) -> float:
    """max(busy CPU-seconds / cores, longest run); the longest run alone where CPU is not measured."""
    cpu = (busy_seconds or 0.0) / max(1, cores)
    return max(cpu, longest_run)
