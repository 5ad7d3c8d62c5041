"""Run a batch's jobs on N worker threads, each driving one grading session (a child process) at a time.

Workers only wait: on a session's exit, which waits on sockets and timers. So N can exceed the core count
by far; what bounds it is the CPU the sessions and the submissions need at once (see default_workers).

Ctrl-C (SIGINT): the first stops starting new runs and lets the runs in flight finish, so their results
are journalled; the second (or SIGTERM) abandons them: their sessions are interrupted and nothing of
them is kept. Sessions run in their own process groups (RunOptions.detached), so the terminal's Ctrl-C
reaches only this process, and they end themselves if this process dies (grader/batch/tether.py).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil

from grader.batch.discover import Submission
from grader.results import RunResult
from grader.runner import RunOptions, grade
from grader.spec import Course, Spec

# Every run grades all its behaviours at once, each on its own server, and mostly waits (reply timeouts,
# observation windows). What a 2-core machine cannot absorb is many runs *starting* together: each start
# is a burst of sandboxes and interpreters, one per behaviour, and past ~40 behaviours in flight servers
# start seconds late ("never listened") and answer late. Measured (benchmarks/README.md): 3 runs per core
# keeps every verdict equal to sequential grading on an idle machine, 4-5 per core does not; the
# StartGate below holds starts when the machine is busier than that. The cap is also bounded by the
# sandbox's uid slots (one per behaviour).
RUNS_PER_CORE = 3
MAX_DEFAULT_WORKERS = 32


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers(cpus: int | None = None, behaviours_per_run: int = 8, slots: int | None = None) -> int:
    """The cap on runs graded at once when --workers is not given: several per core (runs mostly wait),
    and never more behaviours at once than the sandbox has slots."""
    n = max(2, min(MAX_DEFAULT_WORKERS, RUNS_PER_CORE * (cpus or cpu_count())))
    if slots:
        n = min(n, max(1, slots // max(1, behaviours_per_run)))
    return n


class StartGate:
    """Decides when the next run may start.

    A run's start is a burst: a sandbox and an interpreter for each of its behaviours, all at once, and a
    server must listen within its startup timeout (5 s). The gate (1) spaces starts out, at most one per
    `spacing` seconds (default 0.75 s divided by the cores), so bursts do not coincide, and (2) holds
    starts while the CPU is oversubscribed, measured the way it hurts: a probe thread asks for 5 ms of CPU
    four times a second and times how long it takes to get it. A slowdown of 5 means a server that needs
    0.4 s of CPU to start (gevent) listens after 2 s; past `max_slowdown` (median of the last samples)
    no run starts until the machine calms down — whether the load is other runs (spinning servers, other
    batches) or anything else. The first run always starts.

    Where the sandbox puts runs in CPU cgroups (tier A, cgroup v1), the probe thread joins a group of its
    own beside them, so it competes for CPU the way a starting server does (the runs' parent group shares
    the CPU with everything outside it; a probe outside would see far less contention than the servers).
    """

    PROBE_CPU = 0.005  # seconds of CPU each probe asks for
    TICK = 0.25

    def __init__(self, spacing: float | None = None, cores: int | None = None, max_slowdown: float = 5.0,
                 history: float = 1.5) -> None:
        self.spacing = 0.75 / (cores or cpu_count()) if spacing is None else spacing
        self.max_slowdown = max_slowdown
        self._samples: deque[float] = deque(maxlen=max(1, round(history / self.TICK)))
        self._last_start = -1e9
        self._stop = threading.Event()
        self.held_seconds = 0.0  # time starts waited for an oversubscribed CPU
        self._group: Path | None = None
        self._thread = threading.Thread(target=self._probe, name="start-gate", daemon=True)
        self._thread.start()

    def _probe(self) -> None:
        self._join_runs_cgroup()
        try:
            while not self._stop.wait(self.TICK):
                cpu0, t0 = time.thread_time(), time.monotonic()
                while time.thread_time() - cpu0 < self.PROBE_CPU:
                    pass
                self._samples.append((time.monotonic() - t0) / self.PROBE_CPU)
        finally:
            if self._group is not None:  # back to the grader's own group, so ours can be removed
                with contextlib.suppress(OSError):
                    (self._group.parent.parent / "tasks").write_text(str(threading.get_native_id()))

    def _join_runs_cgroup(self) -> None:
        try:
            from grader.sandbox.cgroup import detect

            parent = detect().v1.get("cpu")
            if parent is None or not parent.is_dir():
                return
            group = parent / f"batch-probe-{os.getpid()}"
            group.mkdir(exist_ok=True)
            (group / "tasks").write_text(str(threading.get_native_id()))
            self._group = group
        except (ImportError, OSError, AttributeError):
            return

    def slowdown(self) -> float | None:
        """How many times longer than its CPU time a CPU-bound task takes now (median of recent probes)."""
        samples = sorted(self._samples)
        return samples[len(samples) // 2] if samples else None

    def may_start(self) -> bool:
        """True if a run may start now; otherwise waits a little and says False (ask again)."""
        wait = self._last_start + self.spacing - time.monotonic()
        if wait > 0:
            time.sleep(wait)
            return False
        slowdown = self.slowdown()
        if slowdown is None or slowdown > self.max_slowdown:
            self.held_seconds += self.TICK
            time.sleep(self.TICK)
            return False
        return True

    def started(self) -> None:
        self._last_start = time.monotonic()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        if self._group is not None:
            with contextlib.suppress(OSError):
                self._group.rmdir()  # empty once the probe thread has ended


@dataclass(frozen=True)
class Job:
    """One run to do: a submission, its assignment's spec, and the fingerprint it is journalled under."""

    submission: Submission
    spec: Spec
    fingerprint: str


@dataclass
class Outcome:
    done: int = 0
    interrupted: bool = False  # stopped before every job ran
    abandoned: int = 0  # runs in flight whose sessions were interrupted (nothing kept)
    not_started: int = 0
    errors: list[tuple[Job, BaseException]] = field(default_factory=list)


class Scheduler:
    def __init__(self, jobs: list[Job], course: Course, options: RunOptions, workers: int, *,
                 on_start: Callable[[Job], None] = lambda job: None,
                 on_done: Callable[[Job, RunResult], None] = lambda job, result: None,
                 on_notice: Callable[[str], None] = lambda text: None,
                 one_at_a_time: Callable[[Job], bool] = lambda job: False,
                 gate: StartGate | None = None,
                 on_abandon: Callable[[], None] = lambda: None) -> None:
        self.jobs = jobs
        self.course = course
        self.options = replace(options, detached=True)
        self.workers = max(1, workers)
        self.gate = gate  # None: start runs as soon as a worker is free
        self.on_abandon = on_abandon  # interrupts sessions this process did not start itself
        self._admission = threading.Lock()
        self._told_busy = False
        self.peak_in_flight = 0
        self.on_start, self.on_done, self.on_notice = on_start, on_done, on_notice
        self.one_at_a_time = one_at_a_time  # e.g. servers in the plain tier: one real port for all
        self._queue: queue.Queue[Job] = queue.Queue()
        self._serial = threading.Lock()
        self._done_lock = threading.Lock()
        self._stopping = threading.Event()
        self._abandoned = threading.Event()
        self._in_flight = 0
        self.outcome = Outcome()

    # --- workers ----------------------------------------------------------------------------------------
    def _worker(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            serial = self._serial if self.one_at_a_time(job) else contextlib.nullcontext()
            with serial:
                if not self._admit():
                    self._queue.put(job)  # not started: counted as such, graded on resume
                    return
                try:
                    self.on_start(job)
                    result = grade(job.spec, job.submission.path, self.course, self.options,
                                   student=job.submission.student)
                except BaseException as exc:  # noqa: BLE001 - a grader fault: stop the batch, say why
                    with self._done_lock:
                        self._in_flight -= 1
                        self.outcome.errors.append((job, exc))
                    self._stopping.set()
                    return
            with self._done_lock:
                self._in_flight -= 1
                if self._abandoned.is_set():
                    self.outcome.abandoned += 1
                    return
                try:
                    self.on_done(job, result)
                    self.outcome.done += 1
                except BaseException as exc:  # noqa: BLE001 - e.g. the journal's disk is full
                    self.outcome.errors.append((job, exc))
                    self._stopping.set()
                    return

    def _admit(self) -> bool:
        """Wait for the start gate (one worker at a time), then count the run in flight. False: stopping."""
        with self._admission:
            waiting_since = time.monotonic()
            while self.gate is not None and not self._stopping.is_set():
                with self._done_lock:
                    if self._in_flight == 0:
                        break  # always make progress, however loaded the machine
                if self.gate.may_start():
                    break
                if not self._told_busy and time.monotonic() - waiting_since > 5:
                    self._told_busy = True
                    self.on_notice("the CPU is oversubscribed: fewer runs are graded at once while it lasts, so "
                                   "that servers are not failed for starting late")
            with self._done_lock:
                if self._stopping.is_set():
                    return False
                self._in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            if self.gate is not None:
                self.gate.started()
            return True

    # --- interruption -----------------------------------------------------------------------------------
    def stop(self) -> None:
        """Start no new run; the runs in flight finish and are kept."""
        if not self._stopping.is_set():
            self._stopping.set()
            with self._done_lock:
                n = self._in_flight
            if n:
                self.on_notice(f"stopping: waiting for the {n} run(s) in flight to finish and be saved "
                               "(Ctrl-C again to abandon them)")

    def abandon(self) -> None:
        """Interrupt the runs in flight; nothing of them is kept (they are graded again on resume)."""
        self._stopping.set()
        if self._abandoned.is_set():
            return
        self._abandoned.set()
        self.on_notice("abandoning the runs in flight (they will be graded again when the batch resumes)")
        for proc in _own_sessions():
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGINT)
        self.on_abandon()

    def _on_signal(self, signum: int, _frame: object) -> None:
        if signum == signal.SIGINT and not self._stopping.is_set():
            self.stop()
        else:
            self.abandon()

    # --- main -------------------------------------------------------------------------------------------
    def run(self) -> Outcome:
        for job in self.jobs:
            self._queue.put(job)
        threads = [threading.Thread(target=self._worker, name=f"batch-worker-{i + 1}", daemon=True)
                   for i in range(min(self.workers, len(self.jobs)))]
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            for t in threads:
                t.start()
            abandoned_at = None
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(0.1)  # short waits: signal handlers run in between
                if self._abandoned.is_set():
                    abandoned_at = abandoned_at or time.monotonic()
                    if time.monotonic() - abandoned_at > 15:  # sessions that ignore SIGINT: leave them
                        break  # to their tethers
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self.gate is not None:
                self.gate.close()
        self.outcome.not_started = self._queue.qsize()
        self.outcome.interrupted = self._stopping.is_set() and (self.outcome.not_started > 0 or
                                                                self._abandoned.is_set())
        return self.outcome


def _own_sessions() -> list[psutil.Process]:
    """The grading sessions this process started (its children running the grader's pytest plugin)."""
    out = []
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return out
    for child in children:
        with contextlib.suppress(psutil.Error):
            if "grader.plugin" in child.cmdline():
                out.append(child)
    return out
