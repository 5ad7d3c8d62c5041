"""Run a batch's jobs on N worker threads, each driving one run at a time through an injected grading call.

    Scheduler(jobs, grade_run, workers, on_done=..., one_at_a_time=..., gate=StartGate()).run() -> Outcome

`grade_run(job) -> SubmissionResult` is what grades one run: locally a grading session in a child process
(batch/local.py), on a cluster a Dask task (batch/cluster.py), in tests a fake. Workers only wait, so N can
exceed the core count by far; what bounds it is the CPU the runs need at once (default_workers, StartGate).

A grading call that raises becomes a harness-error result for that run (every behaviour `error`, the
exception as what was observed), journalled like any result and regraded by `--rerun-failed`: a run is
never lost. A GraderError (the command line, the course or the cluster is wrong: the same for every run)
stops the batch instead, and so does a failure to record a result (on_done: e.g. the journal's disk is
full) — what finished is kept, the rest is graded when the batch is run again.

Which run starts next is the `order`'s choice (batch/order.py: the longest expected first, learnt from the
journal and from this batch's finished runs); without one, the jobs' own order.

Ctrl-C (SIGINT): the first stops starting new runs and lets the runs in flight finish, so their results
are journalled; the second (or SIGTERM) abandons them: `on_abandon` interrupts them and nothing of them is
kept. Sessions run in their own process groups (SessionOptions.detached), so the terminal's Ctrl-C reaches only
this process, and they end themselves if this process dies (grader/batch/tether.py).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from grader.batch.discover import Submission
from grader.batch.gate import Gate, StartGate, cpu_count
from grader.batch.order import Order
from grader.errors import GraderError
from grader.i18n import _
from grader.results import BehaviourResult, SubmissionResult
from grader.spec import Spec

__all__ = ["Gate", "Job", "Outcome", "Scheduler", "StartGate", "cpu_count", "default_workers", "harness_error_result"]

# Every run grades all its behaviours at once, each on its own server, and mostly waits (reply timeouts,
# observation windows). What a 2-core machine cannot absorb is many runs *starting* together: each start
# is a burst of sandboxes and interpreters, one per behaviour, and past ~40 behaviours in flight servers
# start seconds late ("never listened") and answer late. Measured (benchmarks/README.md): with the
# StartGate holding starts while the CPU is oversubscribed, 4 runs per core keeps every verdict equal to
# sequential grading, also beside a CPU hog per core (benchmarks/flips.py, since a behaviour costs half
# the CPU it did: 2026-11-29); without the gate 4-5 per core did not. The cap is also bounded by the
# sandbox's uid slots (one per behaviour).
RUNS_PER_CORE = 4
MAX_DEFAULT_WORKERS = 32
ABANDON_GRACE = 15.0  # seconds runs get to end after an abandon before the batch stops waiting for them


def default_workers(cpus: int | None = None, behaviours_per_run: int = 8, slots: int | None = None) -> int:
    """The cap on runs graded at once when --workers is not given: several per core (runs mostly wait),
    and never more behaviours at once than the sandbox has slots."""
    n = max(2, min(MAX_DEFAULT_WORKERS, RUNS_PER_CORE * (cpus or cpu_count())))
    if slots:
        n = min(n, max(1, slots // max(1, behaviours_per_run)))
    return n


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
    harness_errors: int = 0  # runs whose grading call raised: recorded as harness-error results
    errors: list[tuple[Job, BaseException]] = field(default_factory=list)  # what stopped the batch


def harness_error_result(job: Job, why: str, *, tier: str = "") -> SubmissionResult:
    """The result of a run the grader failed to grade: every behaviour `error`, with why."""
    spec = job.spec
    behaviours = [BehaviourResult(
        id=b.id, title=b.title, check=b.check, status="error", reason="harness", score=0.0, max_score=b.points,
        visibility=b.visibility,
        summary="the grader itself failed on this run (not your fault; tell your instructor)",
        expected="the run is graded", observed=why[-2000:]) for b in spec.behaviours]
    return SubmissionResult(assignment=spec.name, title=spec.title, submission=str(job.submission.path),
                     student=job.submission.student, tier=tier, behaviours=behaviours)


class Scheduler:
    def __init__(self, jobs: list[Job], grade_run: Callable[[Job], SubmissionResult], workers: int, *,
                 on_start: Callable[[Job], None] = lambda job: None,
                 on_done: Callable[[Job, SubmissionResult], None] = lambda job, result: None,
                 on_notice: Callable[[str], None] = lambda text: None,
                 one_at_a_time: Callable[[Job], bool] = lambda job: False,
                 gate: Gate | None = None,
                 on_abandon: Callable[[], None] = lambda: None,
                 abandon_grace: float = ABANDON_GRACE,
                 order: Order | None = None) -> None:
        self.jobs = jobs
        self.grade_run = grade_run
        self.workers = max(1, workers)
        self.gate = gate  # None: start runs as soon as a worker is free
        self.on_abandon = on_abandon  # interrupts the runs in flight
        self.abandon_grace = abandon_grace
        self._admission = threading.Lock()
        self._told_busy = False
        self.peak_in_flight = 0
        self.on_start, self.on_done, self.on_notice = on_start, on_done, on_notice
        self.one_at_a_time = one_at_a_time  # e.g. servers of a tier that shares the host's port
        self.order = order  # None: the jobs' own order
        self._todo: list[Job] = []  # not started yet (guarded by _done_lock)
        self._serial = threading.Lock()
        self._done_lock = threading.Lock()
        self._stopping = threading.Event()
        self._abandoned = threading.Event()
        self._in_flight = 0
        self.outcome = Outcome()

    # --- workers ----------------------------------------------------------------------------------------
    def _worker(self) -> None:
        while not self._stopping.is_set():
            job = self._admit()  # the run to start is chosen once the gate lets one start: as late as possible
            if job is None:
                return  # nothing left, or stopping (what was not started is counted as such)
            serial = self._serial if self.one_at_a_time(job) else contextlib.nullcontext()
            with serial:
                if self._stopping.is_set():  # stopped while waiting for its turn: not started after all
                    with self._done_lock:
                        self._in_flight -= 1
                        self._todo.append(job)
                    return
                harness = False
                began = time.monotonic()
                try:
                    self.on_start(job)
                    result = self.grade_run(job)
                except GraderError as exc:  # the same for every run: stop the batch and say why
                    with self._done_lock:
                        self._in_flight -= 1
                        self.outcome.errors.append((job, exc))
                    self._stopping.set()
                    return
                except BaseException as exc:  # noqa: BLE001 - a grader fault on this run: recorded, never lost
                    result = harness_error_result(job, f"{type(exc).__name__}: {exc}")
                    harness = True
            with self._done_lock:
                self._in_flight -= 1
                if self.order is not None:
                    self.order.finished(job, time.monotonic() - began)
                if self._abandoned.is_set():
                    self.outcome.abandoned += 1
                    return
                try:
                    self.on_done(job, result)
                    self.outcome.done += 1
                    self.outcome.harness_errors += harness
                except BaseException as exc:  # noqa: BLE001 - e.g. the journal's disk is full
                    self.outcome.errors.append((job, exc))
                    self._stopping.set()
                    return

    def _take(self) -> Job | None:
        """The run to start now (under _done_lock), taken off the list."""
        if not self._todo:
            return None
        i = 0 if self.order is None else self.order.pick(self._todo)
        job = self._todo.pop(i)
        if self.order is not None:
            self.order.started(job)
        return job

    def _admit(self) -> Job | None:
        """Wait for the start gate (one worker at a time), then take the next run and count it in flight.
        None: nothing left to start, or stopping."""
        with self._admission:
            waiting_since = time.monotonic()
            while self.gate is not None and not self._stopping.is_set():
                with self._done_lock:
                    if not self._todo:
                        return None
                    if self._in_flight == 0:
                        break  # always make progress, however loaded the machine
                if self.gate.may_start():
                    break
                if not self._told_busy and time.monotonic() - waiting_since > 5 and self.gate.busy_notice:
                    self._told_busy = True
                    self.on_notice(self.gate.busy_notice)
            with self._done_lock:
                if self._stopping.is_set():
                    return None
                job = self._take()
                if job is None:
                    return None
                self._in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            if self.gate is not None:
                self.gate.started()
            return job

    @property
    def in_flight(self) -> int:
        with self._done_lock:
            return self._in_flight

    # --- interruption -----------------------------------------------------------------------------------
    def stop(self) -> None:
        """Start no new run; the runs in flight finish and are kept."""
        if not self._stopping.is_set():
            self._stopping.set()
            n = self.in_flight
            if n:
                self.on_notice(_("stopping: waiting for the {n} run(s) in flight to finish and be saved "
                                 "(Ctrl-C again to abandon them)").format(n=n))

    def abandon(self) -> None:
        """Interrupt the runs in flight; nothing of them is kept (they are graded again on resume)."""
        self._stopping.set()
        if self._abandoned.is_set():
            return
        self._abandoned.set()
        self.on_notice(_("abandoning the runs in flight (they will be graded again when the batch resumes)"))
        self.on_abandon()

    def on_signal(self, signum: int, _frame: object = None) -> None:
        """First SIGINT: stop; a second one, or SIGTERM: abandon."""
        if signum == signal.SIGINT and not self._stopping.is_set():
            self.stop()
        else:
            self.abandon()

    # --- main -------------------------------------------------------------------------------------------
    def run(self) -> Outcome:
        self._todo = list(self.jobs)
        threads = [threading.Thread(target=self._worker, name=f"batch-worker-{i + 1}", daemon=True)
                   for i in range(min(self.workers, len(self.jobs)))]
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self.on_signal)
        try:
            for t in threads:
                t.start()
            abandoned_at = None
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(0.02)  # short waits: signal handlers run in between
                if self._abandoned.is_set():
                    abandoned_at = abandoned_at or time.monotonic()
                    if time.monotonic() - abandoned_at > self.abandon_grace:
                        break  # runs that ignore the interrupt: leave them to their tethers
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self.gate is not None:
                self.gate.close()
        self.outcome.not_started = len(self._todo)
        self.outcome.interrupted = self._stopping.is_set() and (self.outcome.not_started > 0 or
                                                                self._abandoned.is_set())
        return self.outcome
