"""What a student reads: a line per behaviour, and for each failure why, with numbers, and what to try."""

from __future__ import annotations

import textwrap

from grader.reporters.explain import GRADER_ERROR_NOTE, Explanation, explain, visible
from grader.results import BehaviourResult, RunResult

MARK = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "not_graded": "SKIP"}
LABEL = {"expected": "expected", "observed": "observed", "why": "why", "hint": "hint",
         "transcript": "what the grader did", "stderr": "server stderr (last lines)"}
INLINE = 13  # short labels share their line with the text: "  expected:  ..."


def explanation_text(e: Explanation) -> str:
    out = [f"{e.behaviour}: {e.headline}"]
    if e.grader_error:
        out.append("  " + GRADER_ERROR_NOTE)
    if e.title:
        out.append(f"  behaviour: {e.title}")
    for part in e.parts:
        label = LABEL[part.key] + ":"
        lines = part.body.splitlines() if part.verbatim else textwrap.wrap(part.body, 90)
        if len(label) < INLINE - 3:
            out.append(f"  {label:<{INLINE - 2}}" + ("\n" + " " * INLINE).join(lines))
        else:
            out.append(f"  {label}")
            out += ["    " + ln if ln else ln for ln in lines]
    if e.rerun:
        out.append(f"  rerun just this: {e.rerun}")
    return "\n".join(out)


def failure_text(r: BehaviourResult) -> str:
    """Every failure: the behaviour, what the grader did, expected, observed, why, hint, stderr, rerun."""
    return explanation_text(explain(r, r.rerun))


def render(result: RunResult, *, show_passed_details: bool = False) -> str:
    lines = [f"{result.title or result.assignment} — {result.submission}",
             f"isolation: {result.tier}" + (f" ({result.tier_note})" if result.tier_note else ""), ""]
    width = max((len(b.id) for b in result.behaviours), default=10)
    for b in result.behaviours:
        # one row, whatever the summary holds; a passed behaviour says how it was graded, if specially
        detail = "  " + " ".join(b.summary.split()) if b.summary else ""
        lines.append(f"  {MARK[b.status]:<5} {b.id:<{width}}  {b.score:g}/{b.max_score:g}{detail}")
    failed = [b for b in result.behaviours if b.status in ("failed", "error")]  # not_graded: said in its row
    if failed:
        lines += ["", "Why they failed", "---------------"]
        for b in failed:
            lines += [failure_text(b), ""]
    lines.append(f"Total: {result.score:g}/{result.max_score:g} "
                 f"({sum(b.passed for b in result.behaviours)} of {len(result.behaviours)} behaviours passed, "
                 f"{result.duration:.1f} s)")
    # Titles, the submission's path and summaries can hold student text too.
    return visible("\n".join(lines))
