"""The start gate: when may the next run of a batch start on this machine?

A run's start is a burst: a sandbox and an interpreter for each of its behaviours, all at once, and a
server must listen within its startup timeout (5 s). The gate (1) spaces starts out, at most one per
`spacing` seconds (default 0.75 s divided by the cores), so bursts do not coincide, and (2) holds starts
while the CPU is oversubscribed, measured the way it hurts: a probe asks for 5 ms of CPU four times a
second and times how long it takes to get it. A slowdown of 5 means a server that needs 0.4 s of CPU to
start (gevent) listens after 2 s; past `max_slowdown` (median of the last samples) no run starts until the
machine calms down — whether the load is other runs (spinning servers, other batches) or anything else.

Where the sandbox puts runs in CPU cgroups (tier A, cgroup v1), the probe thread joins a group of its own
beside them, so it competes for CPU the way a starting server does (the runs' parent group shares the CPU
with everything outside it; a probe outside would see far less contention than the servers).

The probe, the cgroup join, the clock and the sleep are arguments, so the gate's decisions are tested
with fakes (tests/test_scheduler.py); the defaults are the real ones.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from grader.i18n import _

PROBE_CPU = 0.005  # seconds of CPU each probe asks for


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def probe_slowdown() -> float:
    """How many times longer than its CPU time a short CPU-bound task takes now, on this thread."""
    cpu0, t0 = time.thread_time(), time.monotonic()
    while time.thread_time() - cpu0 < PROBE_CPU:
        pass
    return (time.monotonic() - t0) / PROBE_CPU


def join_runs_cgroup() -> Callable[[], None] | None:
    """Move the calling thread into a CPU cgroup beside the runs' (tier A, cgroup v1); returns how to leave
    it again, or None where there is no such group."""
    try:
        from grader.sandbox.cgroup import detect

        parent = detect().v1.get("cpu")
        if parent is None or not parent.is_dir():
            return None
        group: Path = parent / f"batch-probe-{os.getpid()}"
        group.mkdir(exist_ok=True)
        (group / "tasks").write_text(str(threading.get_native_id()))
    except (ImportError, OSError, AttributeError):
        return None

    def leave() -> None:
        with contextlib.suppress(OSError):  # back to the grader's own group, so ours can be removed
            (group.parent.parent / "tasks").write_text(str(threading.get_native_id()))
        with contextlib.suppress(OSError):
            group.rmdir()

    return leave


class Gate(Protocol):
    """What the scheduler asks before each run's start (StartGate here; cluster.ClusterCapacity)."""

    held_seconds: float  # time starts waited for a crowded machine

    @property
    def busy_notice(self) -> str | None: ...  # said once when starts have waited a while (read only)

    def may_start(self) -> bool: ...  # True: start now; False: it waited a little, ask again

    def started(self) -> None: ...

    def close(self) -> None: ...


class StartGate:
    TICK = 0.25
    @property
    def busy_notice(self) -> str:  # in the language of the batch, when it is said
        return _("the CPU is oversubscribed: fewer runs are graded at once while it lasts, so that servers are "
                 "not failed for starting late")

    def __init__(self, spacing: float | None = None, cores: int | None = None, max_slowdown: float = 5.0,
                 history: float = 1.5, *, probe: Callable[[], float] = probe_slowdown,
                 join_cgroup: Callable[[], Callable[[], None] | None] = join_runs_cgroup,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 start_probing: bool = True) -> None:
        self.spacing = 0.75 / (cores or cpu_count()) if spacing is None else spacing
        self.max_slowdown = max_slowdown
        self._samples: deque[float] = deque(maxlen=max(1, round(history / self.TICK)))
        self._probe_once, self._join_cgroup = probe, join_cgroup
        self._clock, self._sleep = clock, sleep
        self._last_start = -1e9
        self._stop = threading.Event()
        self.held_seconds = 0.0  # time starts waited for an oversubscribed CPU
        self.spaced_seconds = 0.0  # time starts waited for the spacing after the previous start
        self._thread: threading.Thread | None = None
        if start_probing:
            self._thread = threading.Thread(target=self._probe, name="start-gate", daemon=True)
            self._thread.start()

    def sample(self) -> None:
        """Take one probe reading (the probe thread does this every TICK)."""
        self._samples.append(self._probe_once())

    def _probe(self) -> None:
        leave = self._join_cgroup()
        try:
            while not self._stop.wait(self.TICK):
                self.sample()
        finally:
            if leave is not None:
                leave()

    def slowdown(self) -> float | None:
        """How many times longer than its CPU time a CPU-bound task takes now (median of recent probes)."""
        samples = sorted(self._samples)
        return samples[len(samples) // 2] if samples else None

    def may_start(self) -> bool:
        """True if a run may start now; otherwise waits a little and says False (ask again)."""
        wait = self._last_start + self.spacing - self._clock()
        if wait > 0:
            self.spaced_seconds += wait
            self._sleep(wait)
            return False
        slowdown = self.slowdown()
        if slowdown is None or slowdown > self.max_slowdown:
            self.held_seconds += self.TICK
            self._sleep(self.TICK)
            return False
        return True

    def started(self) -> None:
        self._last_start = self._clock()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
