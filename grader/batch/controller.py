"""The batch controller: discover → plan (what the journal already holds) → schedule → journal → outputs.

    cfg = BatchConfig(root=Path("submissions"), layout="{student}/{assignment}", out=Path("grader-out"))
    report = run_batch(course, cfg)

Each finished run is journalled (fsync) before anything else is done with it, then its results.json and
feedback.md are written; the gradebook and the class reports are written at the end from the journal, so
they always agree with it. Run the same command again after an interruption and it continues.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from grader import __version__
from grader.batch.discover import Discovery, Submission, discover, submission_digest
from grader.batch.floor import CpuMeter, batch_floor
from grader.batch.gate import Gate, cpu_count
from grader.batch.journal import Entry, Journal
from grader.batch.order import LongestFirst, journal_durations
from grader.batch.outputs import write_class, write_run
from grader.batch.progress import Progress
from grader.batch.scheduler import Job, Outcome, Scheduler
from grader.batch.security import TLSFiles
from grader.errors import UsageError
from grader.i18n import _
from grader.results import SubmissionResult
from grader.spec import Course, Spec, list_assignments, load_spec

if TYPE_CHECKING:
    from grader.sandbox import Tier

JOURNAL = "journal.jsonl"


@dataclass(frozen=True)
class BatchConfig:
    root: Path  # the submissions folder
    layout: str  # e.g. "{student}/{assignment}" (discover.py)
    out: Path
    assignments: tuple[str, ...] = ()  # () = every assignment of the course
    students: tuple[str, ...] = ()  # --only: () = everyone
    workers: int | None = None  # None = default_workers()
    jobs: int = 0  # behaviours of one run graded at once (0 = all)
    rerun_failed: bool = False  # grade again the journalled runs that lost points
    fresh: bool = False  # start a new journal (the old one is kept as journal.N.jsonl)
    sandbox: str | None = None  # a tier asked for by name (each cluster worker chooses its own by it)
    tier: Tier | None = None  # the tier chosen once by the caller, for a local batch (None: chosen by the backend)
    seed: int | None = None
    run_as: str | None = None
    grade: bool = True  # False: only rewrite the outputs from the journal
    throttle: bool = True  # space run starts out (scheduler.StartGate)
    warm: bool = True  # fork sessions from a warm interpreter (batch/warm.py) instead of cold starts
    cluster: str | None = None  # a Dask scheduler's address (tls://HOST:PORT): grade there (batch/cluster.py)
    require_isolation: str | None = None  # "A"/"B"/"C": refuse runs graded below it (per worker on a cluster)
    cluster_tls: TLSFiles | None = None  # the client's certificates for a tls:// cluster (batch/security.py)
    insecure_cluster: bool = False  # allow plain tcp:// to a non-loopback scheduler (--insecure-cluster)


@dataclass
class Plan:
    discovery: Discovery
    specs: dict[str, Spec]
    selected: list[Submission]  # what this invocation is about (after --assignment / --only)
    jobs: list[Job]  # what must be graded now
    reused: list[Entry]  # journalled runs that still match their submission: not graded again
    changed: int  # journalled runs whose submission, spec or grader changed since: graded again
    entries: dict[str, Entry] = field(default_factory=dict)  # the journal, updated as runs finish
    per_assignment_layout: bool = True  # the layout names the assignment (so "missing" is known)

    def missing(self, assignments: list[str]) -> list[tuple[str, str]]:
        """(student, assignment) pairs of the roster (everyone with any submission) with no folder."""
        if not self.per_assignment_layout:
            return []
        have = {(s.student, s.assignment) for s in self.discovery.submissions}
        roster = sorted({s.student for s in self.discovery.submissions})
        return [(st, a) for a in assignments for st in roster if (st, a) not in have]


@dataclass
class BatchReport:
    plan: Plan
    outcome: Outcome
    workers: int
    wall: float
    outputs: list[Path]
    results: list[SubmissionResult]
    where: str = ""  # the backend's: a tier label, or "Dask cluster ADDRESS"
    peak_in_flight: int = 0  # most runs graded at once
    held_seconds: float = 0.0  # time run starts waited because the machine was crowded
    spaced_seconds: float = 0.0  # time run starts waited for the spacing between starts
    run_seconds: float = 0.0  # the graded runs' durations, summed (÷ wall = runs at once on average)
    longest_run: float = 0.0  # the longest graded run, seconds
    busy_cpu: float | None = None  # busy CPU-seconds of the machine while grading (/proc/stat), if known
    cores: int = 1
    order: str = ""  # the order runs were started in, and what it was learnt from

    @property
    def floor(self) -> float:
        """max(busy CPU-seconds / cores, longest run): no schedule on this machine ends sooner."""
        return batch_floor(self.busy_cpu, self.cores, self.longest_run)


def fingerprint(spec: Spec, course: Course, submission: Path) -> str:
    """Same submission files, spec, course config and grader version ⇒ same fingerprint ⇒ no regrade."""
    h = hashlib.sha256(__version__.encode())
    h.update(b"\0" + spec.path.read_bytes())
    course_file = course.root / "grader.yaml"
    if course_file.is_file():
        h.update(b"\0" + course_file.read_bytes())
    h.update(b"\0" + submission_digest(submission).encode())
    return h.hexdigest()[:20]


def _specs(course: Course, names: list[str]) -> dict[str, Spec]:
    return {n: load_spec(course.assignments_path / n / "assignment.yaml") for n in names}


def plan(course: Course, cfg: BatchConfig, journal: Journal) -> Plan:
    known = list_assignments(course)
    if not known:
        raise UsageError(f"no assignments under {course.assignments_path} (each needs an assignment.yaml)")
    unknown = [a for a in cfg.assignments if a not in known]
    if unknown:
        raise UsageError(f"unknown assignment(s) {', '.join(unknown)} (known: {', '.join(known)})")
    wanted = list(cfg.assignments) or known
    # Discover with every assignment name: the roster (for "missing") is everyone with any submission.
    has_assignment = "{assignment}" in cfg.layout
    discovery = discover(cfg.root, cfg.layout, known if has_assignment else wanted)
    roster = {s.student for s in discovery.submissions}
    if cfg.students:
        absent = [s for s in cfg.students if s not in roster]
        if absent:
            raise UsageError(f"no submissions found for {', '.join(absent)} under {cfg.root} "
                             f"(layout {cfg.layout!r})")
    specs = _specs(course, wanted)
    selected = [s for s in discovery.submissions if s.assignment in wanted
                and (not cfg.students or s.student in cfg.students)]
    entries = journal.load()
    jobs, reused, changed = [], [], 0
    for sub in selected:
        spec = specs[sub.assignment]
        fp = fingerprint(spec, course, sub.path)
        entry = entries.get(sub.key)
        if entry is not None and entry.fingerprint == fp and cfg.grade:
            if not (cfg.rerun_failed and not _full_marks(entry.result)):
                reused.append(entry)
                continue
        elif entry is not None and cfg.grade:
            changed += 1
        if cfg.grade:
            jobs.append(Job(sub, spec, fp))
    return Plan(discovery, specs, selected, jobs, reused, changed, entries, has_assignment)


def _full_marks(result: SubmissionResult) -> bool:
    return result.all_passed


class Backend(Protocol):
    """Where and how a batch's runs are graded (batch/local.py, batch/cluster.py; fakes in tests)."""

    where: str  # where the runs go, for the summary and the journal: a tier label, or "Dask cluster ADDRESS"

    def workers(self, specs: dict[str, Spec]) -> int: ...  # runs at once when --workers is not given

    def gate(self) -> Gate | None: ...

    def one_at_a_time(self, job: Job) -> bool: ...

    def grade(self, job: Job) -> SubmissionResult: ...

    def abandon(self) -> None: ...  # interrupt the runs in flight

    def close(self) -> None: ...


def make_backend(course: Course, cfg: BatchConfig) -> Backend:
    if cfg.cluster:
        from grader.batch.cluster import ClusterBackend  # imports `distributed`: only when asked for

        return ClusterBackend(course, cfg.cluster, sandbox=cfg.sandbox, jobs=cfg.jobs, seed=cfg.seed,
                             run_as=cfg.run_as, require_isolation=cfg.require_isolation, tls=cfg.cluster_tls,
                             insecure=cfg.insecure_cluster)
    from grader.batch.local import LocalBackend

    return LocalBackend(course, tier=cfg.tier, sandbox=cfg.sandbox, require_isolation=cfg.require_isolation,
                        jobs=cfg.jobs, seed=cfg.seed, run_as=cfg.run_as, warm=cfg.warm, throttle=cfg.throttle)


def run_batch(course: Course, cfg: BatchConfig, progress: Progress | None = None,
              backend: Backend | None = None) -> BatchReport:
    progress = progress or Progress()
    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    journal = Journal(out / JOURNAL)
    if cfg.fresh:
        moved = journal.archive()
        if moved:
            progress.notice(_("previous journal kept as {path}").format(path=moved))
    p = plan(course, cfg, journal)
    if journal.dropped_partial_line:
        progress.notice(_("the journal's last line was cut short by an interruption; that run is graded again"))
    for path in p.discovery.ignored[:10]:
        progress.notice(_("ignored (does not match the layout {layout}): {path}").format(layout=repr(cfg.layout),
                                                                                        path=path))
    if len(p.discovery.ignored) > 10:
        progress.notice(_("... and {n} more folders that do not match the layout").format(
            n=len(p.discovery.ignored) - 10))
    t0 = time.monotonic()
    meter = CpuMeter()
    order = LongestFirst(history_durations(journal, p))
    outcome = Outcome()
    peak, held, spaced, workers, where = 0, 0.0, 0.0, 0, ""
    graded_seconds: list[float] = []
    if p.jobs:
        backend = backend or make_backend(course, cfg)
        try:
            workers = cfg.workers or backend.workers(p.specs)
            where = backend.where
            journal.record_batch(started_at=_now(), grader_version=__version__, workers=workers, where=where,
                                 runs=len(p.jobs), reused=len(p.reused))

            def on_done(job: Job, result: SubmissionResult) -> None:
                entry = Entry(job.submission.student, job.submission.assignment, job.fingerprint, result)
                journal.record_run(entry)  # first: from here on the run survives anything
                p.entries[entry.key] = entry
                graded_seconds.append(result.duration)
                write_run(out, result)
                progress.run_done(job.submission.student, job.submission.assignment, result)

            scheduler = Scheduler(p.jobs, backend.grade, workers, on_done=on_done, on_notice=progress.notice,
                                  one_at_a_time=backend.one_at_a_time, gate=backend.gate(),
                                  on_abandon=backend.abandon, order=order)
            progress.start(total=len(p.jobs) + len(p.reused), done=len(p.reused))
            try:
                outcome = scheduler.run()
            finally:
                progress.close()
            peak = scheduler.peak_in_flight
            held = scheduler.gate.held_seconds if scheduler.gate is not None else 0.0
            spaced = getattr(scheduler.gate, "spaced_seconds", 0.0)
        finally:
            backend.close()
    results = final_results(p)
    outputs: list[Path] = []
    if not outcome.interrupted and not outcome.errors:
        for r in results:  # also those journalled before a kill got to write them
            write_run(out, r)
        # An assignment nobody submitted is probably not handed out yet: no "missing" rows for it.
        shown = sorted(set(cfg.assignments) | {r.assignment for r in results}
                       | {s.assignment for s in p.selected})
        specs = {**_specs(course, [a for a in shown if a not in p.specs and a in list_assignments(course)]),
                 **p.specs}
        outputs = write_class(out, results, missing=p.missing(shown), course=course.course, generated_at=_now(),
                              titles={n: s.title for n, s in specs.items()},
                              max_scores={n: s.max_score for n, s in specs.items()})
    wall = round(time.monotonic() - t0, 2)
    busy = meter.busy_seconds()
    return BatchReport(plan=p, outcome=outcome, workers=workers, wall=wall,
                       outputs=outputs, results=results, where=where, peak_in_flight=peak,
                       held_seconds=round(held, 1), spaced_seconds=round(spaced, 1),
                       run_seconds=round(sum(graded_seconds), 1),
                       longest_run=round(max(graded_seconds, default=0.0), 2),
                       busy_cpu=None if busy is None else round(busy, 1), cores=cpu_count(),
                       order=order.describe())


def history_durations(journal: Journal, p: Plan) -> dict[str, float]:
    """How long each run took when last graded: this journal's runs, and those of the journals --fresh set
    aside (journal.N.jsonl, newest last), so a regrade starts its longest runs first."""
    history: dict[str, float] = {}
    for n in range(1, 100):
        old = journal.path.with_name(f"{journal.path.stem}.{n}{journal.path.suffix}")
        if not old.exists():
            break
        try:
            history.update(journal_durations(Journal(old).load().values()))
        except (UsageError, OSError, ValueError):
            continue  # a damaged old journal only costs the ordering its figures
    history.update(journal_durations(p.entries.values()))
    return history


def final_results(p: Plan) -> list[SubmissionResult]:
    """The gradebook's runs: the latest journalled run of every submission that still exists."""
    present = {s.key for s in p.discovery.submissions}
    rows = []
    for key, entry in sorted(p.entries.items()):
        if key in present:
            r = entry.result
            if r.student is None:
                r = r.model_copy(update={"student": entry.student})
            rows.append(r)
    return rows


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
