"""What a class report shows, computed once from the results (the HTML and Markdown reports render it).

Pure functions over SubmissionResults: no files, no clocks (the caller passes `generated_at`).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from grader.results import BehaviourResult, SubmissionResult

TOP_FAILURES = 10


def feedback_relpath(student: str, assignment: str) -> str:
    """Where a run's feedback.md sits in a batch's output folder (also the link the reports use)."""
    return f"{student}/{assignment}/feedback.md"


def feedback_href(student: str, assignment: str) -> str:
    return quote(feedback_relpath(student, assignment))


@dataclass(frozen=True)
class Bin:
    label: str
    count: int


@dataclass(frozen=True)
class BehaviourStats:
    id: str
    title: str
    points: float
    graded: int
    passed: int
    errors: int  # the grader failed on it (status "error"): not the students' fault

    @property
    def pass_rate(self) -> float:
        return self.passed / self.graded if self.graded else 0.0


@dataclass(frozen=True)
class FailureGroup:
    """Failures of one behaviour that share a reason and (numbers aside) a summary."""

    behaviour: str
    reason: str
    summary: str  # the most frequent wording in the group
    count: int
    students: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """One student's result for one assignment in the per-student table."""

    status: str  # graded / missing
    score: float = 0.0
    max_score: float = 0.0
    passed: int = 0
    behaviours: int = 0
    errors: int = 0
    href: str = ""

    @property
    def fraction(self) -> float:
        return self.score / self.max_score if self.max_score else 0.0


@dataclass(frozen=True)
class AssignmentStats:
    name: str
    title: str
    max_score: float
    scores: tuple[float, ...]
    missing: tuple[str, ...]
    histogram: tuple[Bin, ...]
    behaviours: tuple[BehaviourStats, ...]
    failures: tuple[FailureGroup, ...]
    failure_groups_total: int

    @property
    def graded(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.scores else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.scores) if self.scores else 0.0

    @property
    def full_marks(self) -> int:
        return sum(1 for s in self.scores if self.max_score and s >= self.max_score)


@dataclass(frozen=True)
class ClassSummary:
    course: str
    generated_at: str
    grader_versions: tuple[str, ...]
    tiers: tuple[tuple[str, int], ...]  # isolation tier -> runs graded in it
    tier_notes: tuple[str, ...]
    assignments: tuple[AssignmentStats, ...]
    students: tuple[str, ...]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    duration: float = 0.0  # sum of the runs' own durations (seconds)

    def row(self, student: str) -> list[Cell | None]:
        """The student's cell for each assignment, in column order (None: not in this batch)."""
        return [self.cells.get((student, a.name)) for a in self.assignments]

    def total(self, student: str) -> tuple[float, float]:
        cells = self.row(student)
        score = sum(c.score for c in cells if c and c.status == "graded")
        top = sum(a.max_score for a in self.assignments)
        return score, top


def normalise(summary: str) -> str:
    """A failure summary with its numbers blanked, so '98% of a core' and '97% of a core' group together."""
    return re.sub(r"\d+(?:\.\d+)?", "N", summary).strip()


def histogram(scores: Sequence[float], max_score: float) -> tuple[Bin, ...]:
    """One bar per possible score when scores are whole points up to 20, else ten 10% bands."""
    if max_score <= 20 and all(float(s).is_integer() for s in scores) and float(max_score).is_integer():
        counts = Counter(int(s) for s in scores)
        return tuple(Bin(str(i), counts.get(i, 0)) for i in range(int(max_score) + 1))
    bands = [0] * 10
    for s in scores:
        frac = s / max_score if max_score else 0.0
        bands[min(9, int(frac * 10))] += 1
    return tuple(Bin(f"{i * 10}–{i * 10 + 10}%", n) for i, n in enumerate(bands))


def _failure_groups(results: Sequence[SubmissionResult]) -> list[FailureGroup]:
    groups: dict[tuple[str, str, str], list[tuple[str, BehaviourResult]]] = defaultdict(list)
    for r in results:
        for b in r.behaviours:
            if not b.passed:
                groups[(b.id, b.reason, normalise(b.summary))].append((r.student or r.submission, b))
    out = []
    for (bid, reason, _norm), members in groups.items():
        wording = Counter(b.summary for _s, b in members).most_common(1)[0][0]
        out.append(FailureGroup(behaviour=bid, reason=reason, summary=wording, count=len(members),
                                students=tuple(sorted({s for s, _b in members}))))
    out.sort(key=lambda g: (-g.count, g.behaviour, g.reason, g.summary))
    return out


def summarize(results: Sequence[SubmissionResult], *, missing: Sequence[tuple[str, str]] = (), course: str = "",
              generated_at: str = "", titles: dict[str, str] | None = None,
              max_scores: dict[str, float] | None = None) -> ClassSummary:
    """The class report's content. `missing` lists (student, assignment) pairs with no submission;
    `titles` / `max_scores` name and size assignments that have no graded run (all missing)."""
    titles = dict(titles or {})
    max_scores = dict(max_scores or {})
    by_assignment: dict[str, list[SubmissionResult]] = defaultdict(list)
    for r in results:
        by_assignment[r.assignment].append(r)
        titles.setdefault(r.assignment, r.title)
        max_scores[r.assignment] = r.max_score
    missing_by: dict[str, list[str]] = defaultdict(list)
    for student, assignment in missing:
        missing_by[assignment].append(student)
    names = sorted(set(by_assignment) | set(missing_by))
    assignments = []
    for name in names:
        runs = sorted(by_assignment.get(name, []), key=lambda r: r.student or r.submission)
        top = max_scores.get(name, 0.0)
        order: list[str] = []
        for r in runs:
            order += [b.id for b in r.behaviours if b.id not in order]
        stats = []
        for bid in order:
            got = [b for r in runs for b in r.behaviours if b.id == bid]
            stats.append(BehaviourStats(id=bid, title=got[0].title, points=got[0].max_score, graded=len(got),
                                        passed=sum(b.passed for b in got),
                                        errors=sum(b.status == "error" for b in got)))
        groups = _failure_groups(runs)
        scores = tuple(r.score for r in runs)
        assignments.append(AssignmentStats(
            name=name, title=titles.get(name, ""), max_score=top, scores=scores,
            missing=tuple(sorted(missing_by.get(name, []))), histogram=histogram(scores, top),
            behaviours=tuple(stats), failures=tuple(groups[:TOP_FAILURES]), failure_groups_total=len(groups)))
    cells: dict[tuple[str, str], Cell] = {}
    for r in results:
        student = r.student or r.submission
        cells[(student, r.assignment)] = Cell(
            status="graded", score=r.score, max_score=r.max_score, passed=sum(b.passed for b in r.behaviours),
            behaviours=len(r.behaviours), errors=sum(b.status == "error" for b in r.behaviours),
            href=feedback_href(student, r.assignment))
    for student, assignment in missing:
        cells[(student, assignment)] = Cell(status="missing", max_score=max_scores.get(assignment, 0.0))
    students = tuple(sorted({s for s, _a in cells}))
    tiers = Counter(r.tier or "unknown" for r in results)
    notes = tuple(sorted({f"{r.tier}: {r.tier_note}" for r in results if r.tier_note}))
    return ClassSummary(
        course=course, generated_at=generated_at,
        grader_versions=tuple(sorted({r.grader_version for r in results if r.grader_version})),
        tiers=tuple(sorted(tiers.items(), key=lambda kv: (-kv[1], kv[0]))), tier_notes=notes,
        assignments=tuple(assignments), students=students, cells=cells,
        duration=round(sum(r.duration for r in results), 1))
