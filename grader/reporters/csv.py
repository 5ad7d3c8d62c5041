"""grades.csv: the gradebook, one row per (student, assignment), for a spreadsheet.

    student,assignment,score,max_score,select_server:echo,...,threaded_server:...,status

Behaviour columns are named `assignment:behaviour` (in spec order, assignments sorted) so one file holds
every assignment of a batch and a column always means the same thing; a row leaves the other assignments'
columns empty. `status` is `graded`, `missing` (no submission found: score 0) or `grader-error` (the grader
failed on some behaviour: regrade it). RFC 4180 (comma, double quotes, CRLF), UTF-8, numbers with a dot.
A cell that a spreadsheet would take for a formula (=, +, -, @) is prefixed with a quote.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from grader.results import SubmissionResult

FIXED = ["student", "assignment", "score", "max_score"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def _num(x: float) -> str:
    return f"{x:g}" if abs(x) < 1e15 else repr(x)


def behaviour_columns(results: Sequence[SubmissionResult]) -> list[tuple[str, str]]:
    """(assignment, behaviour id) pairs in column order."""
    order: dict[str, list[str]] = {}
    for r in results:
        ids = order.setdefault(r.assignment, [])
        ids += [b.id for b in r.behaviours if b.id not in ids]
    return [(a, bid) for a in sorted(order) for bid in order[a]]


def gradebook_rows(results: Sequence[SubmissionResult], missing: Sequence[tuple[str, str]] = (),
                   max_scores: dict[str, float] | None = None) -> list[list[str]]:
    """Header and rows; `missing` are (student, assignment) pairs without a submission."""
    columns = behaviour_columns(results)
    tops = dict(max_scores or {})
    for r in results:
        tops[r.assignment] = r.max_score
    rows: list[list[str]] = [[*FIXED, *(f"{a}:{bid}" for a, bid in columns), "status"]]
    body: list[tuple[str, str, list[str]]] = []
    for r in results:
        got = {b.id: b for b in r.behaviours}
        cells = [_num(got[bid].score) if a == r.assignment and bid in got else "" for a, bid in columns]
        status = "grader-error" if any(b.status == "error" for b in r.behaviours) else "graded"
        student = r.student or r.submission
        body.append((student, r.assignment, [student, r.assignment, _num(r.score), _num(r.max_score), *cells,
                                             status]))
    for student, assignment in missing:
        top = tops.get(assignment)
        body.append((student, assignment, [student, assignment, "0", "" if top is None else _num(top),
                                           *([""] * len(columns)), "missing"]))
    body.sort(key=lambda t: (t[0], t[1]))
    rows += [[_safe(c) for c in row] for _s, _a, row in body]
    return rows


def to_csv(results: Sequence[SubmissionResult], missing: Sequence[tuple[str, str]] = (),
           max_scores: dict[str, float] | None = None) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, dialect="excel")  # comma, minimal quoting, CRLF
    writer.writerows(gradebook_rows(results, missing, max_scores))
    return buf.getvalue()
