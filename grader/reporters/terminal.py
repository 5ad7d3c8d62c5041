"""What a student reads: a line per behaviour, and for each failure why, with numbers, and what to try."""

from __future__ import annotations

import textwrap

from grader.results import BehaviourResult, RunResult

MARK = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "not_graded": "SKIP"}


def _indent(text: str, prefix: str = "    ") -> str:
    return textwrap.indent(text.rstrip(), prefix)


def failure_text(r: BehaviourResult, transcript_lines: int = 40) -> str:
    """Every failure: the behaviour, what the grader did, expected, observed, why, hint, stderr, rerun."""
    out = [f"{r.id}: {r.summary}"]
    if r.title:
        out.append(f"  behaviour: {r.title}")
    if r.expected:
        out.append(f"  expected:  {r.expected}")
    if r.observed:
        out.append("  observed:  " + r.observed.replace("\n", "\n             "))
    if r.diagnosis:
        out.append("  why:       " + "\n             ".join(textwrap.wrap(r.diagnosis, 90)))
    if r.hint:
        out.append("  hint:      " + "\n             ".join(textwrap.wrap(r.hint, 90)))
    if r.transcript:
        out.append("  what the grader did:")
        events = r.transcript
        if len(events) > transcript_lines:
            head = events[: transcript_lines // 2]
            tail = events[-transcript_lines // 2:]
            lines = [f"t={e.t:6.2f}  {e.actor:<16} {e.text}" for e in head]
            lines.append(f"        ... {len(events) - len(head) - len(tail)} more events ...")
            lines += [f"t={e.t:6.2f}  {e.actor:<16} {e.text}" for e in tail]
        else:
            lines = [f"t={e.t:6.2f}  {e.actor:<16} {e.text}" for e in events]
        out.append(_indent("\n".join(lines)))
    if r.stderr_tail.strip() and r.status != "passed":
        out.append("  server stderr (last lines):")
        out.append(_indent("\n".join(r.stderr_tail.strip().splitlines()[-15:])))
    if r.rerun:
        out.append(f"  rerun just this: {r.rerun}")
    return "\n".join(out)


def render(result: RunResult, *, show_passed_details: bool = False) -> str:
    lines = [f"{result.title or result.assignment} — {result.submission}",
             f"isolation: {result.tier}" + (f" ({result.tier_note})" if result.tier_note else ""), ""]
    width = max((len(b.id) for b in result.behaviours), default=10)
    for b in result.behaviours:
        detail = "" if b.passed else f"  {b.summary}"
        lines.append(f"  {MARK[b.status]:<5} {b.id:<{width}}  {b.score:g}/{b.max_score:g}{detail}")
    failed = [b for b in result.behaviours if not b.passed]
    if failed:
        lines += ["", "Why they failed", "---------------"]
        for b in failed:
            lines += [failure_text(b), ""]
    lines.append(f"Total: {result.score:g}/{result.max_score:g} "
                 f"({sum(b.passed for b in result.behaviours)} of {len(result.behaviours)} behaviours passed, "
                 f"{result.duration:.1f} s)")
    return "\n".join(lines)
