"""Progress of a batch: a rich progress bar on a terminal, plain lines elsewhere (CI, logs), or nothing."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

from grader.i18n import _, ljust
from grader.results import SubmissionResult

if TYPE_CHECKING:
    from rich.progress import TaskID


def line_for(student: str, assignment: str, result: SubmissionResult) -> str:
    failed = [b.id for b in result.behaviours if not b.passed]
    errors = [b.id for b in result.behaviours if b.status == "error"]
    mark = ljust(_("ERROR") if errors else _("ok") if not failed else _("FAIL"), 5)
    detail = "  " + _("failed: {behaviours}").format(behaviours=", ".join(failed)) if failed else ""
    where = _(" on {worker}").format(worker=result.worker) if result.worker else ""
    return (f"{mark} {student} {assignment} {result.score:g}/{result.max_score:g} "
            f"({result.duration:.1f} s{where}){detail}")


class Progress:
    """Silent: the interface the batch reports to."""

    def start(self, total: int, done: int) -> None: ...

    def run_done(self, student: str, assignment: str, result: SubmissionResult) -> None: ...

    def notice(self, text: str) -> None: ...

    def close(self) -> None: ...


class LineProgress(Progress):
    """One plain line per finished run: for CI logs and pipes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = self.done = 0
        self.t0 = time.monotonic()
        self._lock = threading.Lock()

    def start(self, total: int, done: int) -> None:
        self.total, self.done, self.t0 = total, done, time.monotonic()
        todo = total - done
        self._print(_("grading {n} run(s)").format(n=todo)
                    + (_(" ({n} already done, from the journal)").format(n=done) if done else ""))

    def run_done(self, student: str, assignment: str, result: SubmissionResult) -> None:
        with self._lock:
            self.done += 1
            n = f"[{self.done}/{self.total}]"
        self._print(f"{n} {line_for(student, assignment, result)}")

    def notice(self, text: str) -> None:
        self._print(text)

    def _print(self, text: str) -> None:
        with self._lock:
            print(text, file=self.stream, flush=True)


class BarProgress(Progress):
    """A rich progress bar (counts, elapsed, remaining) with a line per finished run above it."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True, highlight=False)
        self.bar = Progress(SpinnerColumn(), TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("remaining"),
                            TimeRemainingColumn(), console=self.console, transient=False)
        self.task: TaskID | None = None
        self._lock = threading.Lock()

    def start(self, total: int, done: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task("grading", total=total, completed=done)

    def run_done(self, student: str, assignment: str, result: SubmissionResult) -> None:
        from rich.markup import escape

        text = line_for(student, assignment, result)
        style = "red" if text.startswith("ERROR") else "yellow" if text.startswith("FAIL") else "green"
        with self._lock:
            self.bar.console.print(f"[{style}]{escape(text)}[/]")
            if self.task is not None:
                self.bar.advance(self.task)

    def notice(self, text: str) -> None:
        from rich.markup import escape

        with self._lock:
            self.bar.console.print(f"[bold]{escape(text)}[/]")

    def close(self) -> None:
        self.bar.stop()


def choose(mode: str = "auto") -> Progress:
    """'auto': a bar on an interactive terminal, plain lines when not a tty or in CI (CI=true)."""
    if mode == "none":
        return Progress()
    if mode == "lines":
        return LineProgress()
    if mode == "bar":
        return BarProgress()
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    return BarProgress() if sys.stderr.isatty() and not ci else LineProgress()
