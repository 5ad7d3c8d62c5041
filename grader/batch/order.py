"""Which run to start next: the longest expected first, so that a batch never ends on a long run started late.

    order = LongestFirst(history=journal_durations(entries))
    Scheduler(jobs, grade_run, workers, order=order)

A batch's floor is max(busy CPU-seconds / cores, its longest run): with the runs started in the order they
were found (students alphabetical, the slowest assignment last) the longest runs start last and the batch
ends a whole run after the rest. The expected duration of a run comes from, best first:

1. the journal of earlier batches of the same course: this very submission's last duration (a regrade, a
   `--rerun-failed`, a changed submission), else that assignment's median there;
2. the runs of this batch: once runs of an assignment have finished, their median, raised by the time its
   runs in flight have already taken (a long run that has not finished yet is evidence too);
3. the spec: before anything of an assignment is known, its worst case from its behaviours' timeouts and
   windows (a run grades its behaviours at once, so its longest behaviour). An assignment of which nothing is
   known yet is tried early (its first run starts before known ones of the same expected length), so a
   first batch in the worst order learns within its first runs which assignment is the slow one.

Every method is called under the scheduler's lock; the clock is an argument (tests use a fake one).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from grader.i18n import _

if TYPE_CHECKING:
    from grader.batch.scheduler import Job


class Order(Protocol):
    """What the scheduler asks to pick the next run (LongestFirst here; None there = the jobs' own order)."""

    def pick(self, jobs: list[Job]) -> int: ...  # index into jobs of the run to start now

    def started(self, job: Job) -> None: ...

    def finished(self, job: Job, seconds: float) -> None: ...

    def describe(self) -> str: ...  # for the batch's summary: which order was used, from what


def spec_seconds(spec) -> float:  # noqa: ANN001 - grader.spec.Spec (imported lazily: no import cycle)
    """A run's worst case from its spec: its longest behaviour's timeouts and windows, summed."""
    from grader.spec import params_for

    longest = 0.0
    for b in spec.behaviours:
        try:
            params = params_for(spec, b).model_dump()
        except Exception:  # noqa: BLE001 - an unknown check: the spec's own validation says so elsewhere
            params = dict(b.params)
        total = sum(float(v) for k, v in params.items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                    and (k.endswith("timeout") or k.endswith("window")))
        longest = max(longest, total)
    return longest


def journal_durations(entries: Iterable) -> dict[str, float]:  # noqa: ANN001 - journal.Entry
    """{student/assignment: seconds} of the journalled runs (the latest of each)."""
    return {e.key: float(e.result.duration) for e in entries if e.result.duration}


class LongestFirst:
    def __init__(self, history: dict[str, float] | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.history = dict(history or {})
        self._clock = clock
        by_assignment: dict[str, list[float]] = {}
        for key, seconds in self.history.items():
            by_assignment.setdefault(key.rsplit("/", 1)[-1], []).append(seconds)
        self._journal_median = {a: statistics.median(v) for a, v in by_assignment.items()}
        self._seen: dict[str, list[float]] = {}  # assignment -> durations of this batch's finished runs
        self._running: dict[int, tuple[str, float]] = {}  # id(job) -> (assignment, started at)
        self._tried: set[str] = set()  # assignments with a run started in this batch
        self._spec_seconds: dict[str, float] = {}
        self.picked_from = {"journal": 0, "batch": 0, "spec": 0}

    @staticmethod
    def _key(job: Job) -> str:
        return f"{job.submission.student}/{job.spec.name}"

    def expected(self, job: Job) -> tuple[float, str]:
        """(seconds, where the figure came from)."""
        own = self.history.get(self._key(job))
        if own is not None:
            return own, "journal"
        return self._assignment_expected(job)

    def _assignment_expected(self, job: Job) -> tuple[float, str]:
        a = job.spec.name
        seen = self._seen.get(a)
        now = self._clock()
        running = [now - t for name, t in self._running.values() if name == a]
        if seen:
            return max(statistics.median(seen), *running, 0.0), "batch"
        if a in self._journal_median:
            return self._journal_median[a], "journal"
        if a not in self._spec_seconds:
            self._spec_seconds[a] = spec_seconds(job.spec)
        return max(self._spec_seconds[a], *running, 0.0), "spec"

    def pick(self, jobs: list[Job]) -> int:
        best, best_key, best_source = 0, None, "spec"
        per_assignment: dict[str, tuple[float, str]] = {}  # worked out once per pick (a class has thousands)
        for i, job in enumerate(jobs):
            own = self.history.get(self._key(job))
            if own is not None:
                seconds, source = own, "journal"
            else:
                if job.spec.name not in per_assignment:
                    per_assignment[job.spec.name] = self._assignment_expected(job)
                seconds, source = per_assignment[job.spec.name]
            untried = source == "spec" and job.spec.name not in self._tried
            key = (untried, seconds, -i)  # an unknown assignment first, then the longest, then the first found
            if best_key is None or key > best_key:
                best, best_key, best_source = i, key, source
        self.picked_from[best_source] += 1
        return best

    def started(self, job: Job) -> None:
        self._tried.add(job.spec.name)
        self._running[id(job)] = (job.spec.name, self._clock())

    def finished(self, job: Job, seconds: float) -> None:
        self._running.pop(id(job), None)
        self._seen.setdefault(job.spec.name, []).append(seconds)

    def describe(self) -> str:
        from_source = {"journal": _("{n} from journal"), "batch": _("{n} from batch"),
                       "spec": _("{n} from spec")}
        used = [from_source[src].format(n=n) for src, n in self.picked_from.items() if n]
        return _("longest expected first") + (" ({used})".format(used=", ".join(used)) if used else "")
