"""Grading a batch's runs on this machine: one grading session (a child process) per run.

The batch controller asks an backend four things — the isolation tier, how many runs at once, which runs
must go one at a time, and `grade(job) -> SubmissionResult` — and never branches on where the runs happen. This
is the embedded default; batch/cluster.py is the Dask one.
"""

from __future__ import annotations

import contextlib
import signal
from dataclasses import replace
from typing import TYPE_CHECKING

import psutil

from grader.batch.gate import StartGate
from grader.batch.scheduler import Job, default_workers
from grader.batch.warm import WarmStarter
from grader.results import SubmissionResult
from grader.session.runner import SessionOptions, grade
from grader.spec import Course, Spec

if TYPE_CHECKING:
    from grader.sandbox import Tier


class LocalBackend:
    """Runs on this machine, in the best sandbox it offers (or the one asked for)."""

    def __init__(self, course: Course, *, tier: Tier | None = None, sandbox: str | None = None,
                 require_isolation: str | None = None, jobs: int = 0, seed: int | None = None,
                 run_as: str | None = None, warm: bool = True, throttle: bool = True) -> None:
        from grader.sandbox import choose_sandbox, require_level

        self.course = course
        self.sandbox = tier if tier is not None else choose_sandbox(sandbox)  # once, for the whole batch
        if require_isolation:
            require_level(self.sandbox, require_isolation)
        self.where = self.sandbox.tier
        self.plain = self.sandbox.shares_host_port  # one real port: servers run one at a time, one behaviour each
        # the tier as a value: sessions then neither probe the machine again nor announce it
        self.options = SessionOptions(jobs=1 if self.plain else jobs, seed=seed, run_as=run_as, detached=True,
                                      tier=self.sandbox)
        self.throttle = throttle
        self.starter = WarmStarter() if warm else None
        if self.starter is not None:
            self.options = replace(self.options, starter=self.starter)

    def workers(self, specs: dict[str, Spec]) -> int:
        return default_workers(behaviours_per_run=max((len(s.behaviours) for s in specs.values()), default=8),
                               slots=_slots())

    def gate(self) -> StartGate | None:
        return StartGate() if self.throttle else None

    def one_at_a_time(self, job: Job) -> bool:
        return self.plain and job.spec.kind == "server"

    def grade(self, job: Job) -> SubmissionResult:
        return grade(job.spec, job.submission.path, self.course, self.options, student=job.submission.student)

    def abandon(self) -> None:
        for proc in _own_sessions():
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGINT)
        if self.starter is not None:
            self.starter.interrupt_all()

    def close(self) -> None:
        if self.starter is not None:
            self.starter.close()


def _slots() -> int | None:
    """How many behaviours the sandbox can run at once (one uid slot each), if it has such a limit."""
    try:
        from grader.sandbox import slots
    except ImportError:
        return None
    return getattr(slots, "SLOTS", None)


def _own_sessions() -> list[psutil.Process]:
    """The grading sessions this process started (its children running the grader's pytest plugin)."""
    out: list[psutil.Process] = []
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return out
    for child in children:
        with contextlib.suppress(psutil.Error):
            if "grader.session.plugin" in child.cmdline():
                out.append(child)
    return out
