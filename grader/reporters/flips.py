"""Verdicts that changed across repeated gradings of one submission (`grader check --repeat N`).

A verdict a student can dispute is one the grader does not give every time. Grading the same submission N
times and comparing behaviour by behaviour finds those, with the headline of each different outcome.
"""

from __future__ import annotations

from grader.i18n import _
from grader.results import SubmissionResult


def changed(runs: list[SubmissionResult]) -> dict[str, list[str]]:
    """Behaviour id -> the status of each run, for every behaviour whose status was not the same in all."""
    statuses: dict[str, list[str]] = {}
    for run in runs:
        for b in run.behaviours:
            statuses.setdefault(b.id, []).append(b.status)
    return {bid: s for bid, s in statuses.items() if len(set(s)) > 1}


def render_changes(runs: list[SubmissionResult]) -> str:
    flips = changed(runs)
    lines = [_("Repeated {n} times: scores {scores}").format(
        n=len(runs), scores=", ".join(f"{r.score:g}/{r.max_score:g}" for r in runs))]
    if not flips:
        lines.append(_("no verdict changed across the runs"))
        return "\n".join(lines)
    lines.append(_("{n} behaviour(s) changed verdict across the runs (not a stable grade: report it):").format(
        n=len(flips)))
    for bid, statuses in flips.items():
        lines.append(f"  {bid}: " + ", ".join(statuses))
        seen: set[str] = set()
        for i, run in enumerate(runs, 1):
            b = next(x for x in run.behaviours if x.id == bid)
            key = f"{b.status}: {b.summary}" if b.summary else b.status
            if key not in seen:
                seen.add(key)
                lines.append("    " + _("run {i}: {outcome}").format(i=i, outcome=key)
                             + (_(" (rerun: {command})").format(command=b.rerun) if not b.passed and b.rerun else ""))
    return "\n".join(lines)
