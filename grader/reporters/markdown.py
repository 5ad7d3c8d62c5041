"""Markdown: a student's feedback.md for one run, and the class report's Markdown twin.

Pure functions over results. Text a submission controls (bytes its server sent, its stderr) only appears
inside code fences longer than any run of backticks in it; other prose is escaped, so nothing a student
sends can turn into links, HTML or formatting.
"""

from __future__ import annotations

import re
import shlex

from grader.reporters.class_summary import AssignmentStats, ClassSummary
from grader.results import BehaviourResult, RunResult

TRANSCRIPT_LINES = 40
STDERR_LINES = 15
MARK = {"passed": "✅ pass", "failed": "❌ FAIL", "error": "⚠️ ERROR", "not_graded": "➖ not graded"}
_SPECIAL = re.compile(r"[\\`*\[\]<>|#!~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def text(s: str) -> str:
    """One line of prose, safe in Markdown (also inside a table cell)."""
    s = " ".join(str(s).split())
    return _SPECIAL.sub(lambda m: "\\" + m.group(0), s)


def fence(body: str, lang: str = "text") -> str:
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{body.rstrip()}\n{ticks}"


def code(s: str) -> str:
    """Inline code, whatever backticks `s` holds."""
    s = " ".join(str(s).split())
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{ticks}{pad}{s}{pad}{ticks}"


def link(label: str, href: str) -> str:
    return f"[{text(label)}](<{href.replace('>', '%3E').replace('<', '%3C')}>)"


def points(score: float, top: float) -> str:
    return f"{score:g} / {top:g}"


def rerun_here(assignment: str, b: BehaviourResult) -> str:
    """The command that reproduces one behaviour, run from the student's own folder."""
    parts = ["grader", "check", assignment, ".", "--only", b.id]
    if b.seed is not None:
        parts += ["--seed", str(b.seed)]
    return shlex.join(parts)


def _transcript(b: BehaviourResult) -> str:
    lines = [f"t={e.t:6.2f}  {e.actor:<16} {e.text}" for e in b.transcript]
    if len(lines) > TRANSCRIPT_LINES:
        half = TRANSCRIPT_LINES // 2
        lines = [*lines[:half], f"        ... {len(lines) - 2 * half} more events ...", *lines[-half:]]
    return "\n".join(lines)


def behaviour_section(b: BehaviourResult, assignment: str) -> str:
    """Why one behaviour failed, and what to try: expected, observed, why, hint, transcript, stderr."""
    head = f"### {MARK[b.status]} {code(b.id)}: {text(b.summary or b.title or 'failed')}"
    out = [head, ""]
    if b.status == "error":
        out += ["The grader itself failed on this behaviour: this is not (necessarily) a fault in your code. "
                "Please tell your instructor.", ""]
    items = []
    if b.title:
        items.append(f"- **Behaviour:** {text(b.title)} ({points(b.score, b.max_score)} points)")
    if b.expected:
        items.append(f"- **Expected:** {text(b.expected)}")
    out += items
    if b.observed:
        out += ["- **Observed:**", "", _indent(fence(b.observed)), ""]
    if b.diagnosis:
        out.append(f"- **Why:** {text(b.diagnosis)}")
    if b.hint:
        out.append(f"- **Hint:** {text(b.hint)}")
    if b.transcript:
        out += ["- **What the grader did:**", "", _indent(fence(_transcript(b))), ""]
    if b.stderr_tail.strip():
        tail = "\n".join(b.stderr_tail.strip().splitlines()[-STDERR_LINES:])
        out += ["- **Your program's stderr (last lines):**", "", _indent(fence(tail)), ""]
    out.append(f"- **Reproduce on your machine:** {code(rerun_here(assignment, b))}")
    return "\n".join(out).rstrip() + "\n"


def _indent(block: str) -> str:
    return "\n".join(("  " + ln) if ln else ln for ln in block.splitlines())


def feedback(result: RunResult) -> str:
    """feedback.md for one student's run: a table of verdicts, then each failure explained.

    Behaviours with visibility 'hidden' show their verdict only (students never see their details on
    Gradescope either)."""
    who = result.student or result.submission
    passed = sum(b.passed for b in result.behaviours)
    lines = [f"# {text(result.title or result.assignment)} — {text(who)}", "",
             f"**{points(result.score, result.max_score)} points** · {passed} of {len(result.behaviours)} "
             f"behaviours passed", "",
             "| Result | Behaviour | Points |", "|---|---|---|"]
    for b in result.behaviours:
        title = f"{code(b.id)}: {text(b.title)}" if b.title else code(b.id)
        hidden = " *(hidden)*" if b.visibility == "hidden" else ""
        lines.append(f"| {MARK[b.status]} | {title}{hidden} | {points(b.score, b.max_score)} |")
    failed = [b for b in result.behaviours if not b.passed]
    shown = [b for b in failed if b.visibility != "hidden"]
    if failed:
        lines += ["", "## What to fix", ""]
        first_of: dict[tuple[str, str, str], BehaviourResult] = {}
        for b in shown:
            # One cause failing several behaviours (a crash at start, a syntax error) is explained once.
            cause = (b.reason, b.summary, b.stderr_tail.strip())
            if b.reason and cause in first_of:
                lines += [f"### {MARK[b.status]} {code(b.id)}: the same failure as {code(first_of[cause].id)}",
                          "", f"- **Reproduce on your machine:** {code(rerun_here(result.assignment, b))}", ""]
                continue
            first_of.setdefault(cause, b)
            lines += [behaviour_section(b, result.assignment)]
        if len(shown) < len(failed):
            lines += [f"{len(failed) - len(shown)} hidden behaviour(s) failed; their details are not shown.", ""]
    else:
        lines += ["", "Every behaviour passed. Well done.", ""]
    iso = result.tier + (f" ({result.tier_note})" if result.tier_note else "")
    lines += ["---", "",
              f"Graded by grader {text(result.grader_version)} on {text(result.started_at)} in "
              f"{result.duration:.1f} s; isolation: {text(iso)}. Each behaviour ran on a fresh instance of "
              "your program; the command under each failure reproduces it on your machine (with "
              "the same random payloads)."]
    return "\n".join(lines).rstrip() + "\n"


# --- the class report ----------------------------------------------------------------------------------

def bar(fraction: float, width: int = 20) -> str:
    full = max(0, min(width, round(fraction * width)))
    return "█" * full + "░" * (width - full)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _assignment_section(a: AssignmentStats) -> list[str]:
    title = f" — {text(a.title)}" if a.title else ""
    out = [f"## {code(a.name)}{title}", ""]
    missing = f", {len(a.missing)} missing ({', '.join(text(s) for s in a.missing)})" if a.missing else ""
    if a.graded:
        out.append(f"{a.graded} graded{missing}. Mean {a.mean:.1f} / {a.max_score:g}, median {a.median:g}, "
                   f"full marks {a.full_marks} of {a.graded}.")
    else:
        out.append(f"Nothing graded{missing}.")
    out.append("")
    if a.graded:
        out += ["### Score distribution", ""]
        peak = max((b.count for b in a.histogram), default=0) or 1
        width = max(len(b.label) for b in a.histogram)
        rows = [f"{b.label:>{width}} │{'█' * round(30 * b.count / peak):<30} {b.count}" for b in a.histogram]
        out += [fence("\n".join(rows)), ""]
        out += ["### Pass rate per behaviour", "",
                "| Behaviour | Points | Passed | Pass rate | |", "|---|--:|--:|--:|---|"]
        for s in a.behaviours:
            err = f" ({s.errors} grader error{'s' if s.errors != 1 else ''})" if s.errors else ""
            out.append(f"| {code(s.id)} | {s.points:g} | {s.passed}/{s.graded}{err} | {_pct(s.pass_rate)} | "
                       f"`{bar(s.pass_rate)}` |")
        out.append("")
        out += ["### Most common failures", ""]
        if not a.failures:
            out += ["No behaviour failed.", ""]
        else:
            out += ["| Behaviour | Reason | What the grader saw (most common wording) | Runs | Students |",
                    "|---|---|---|--:|---|"]
            for g in a.failures:
                students = ", ".join(text(s) for s in g.students[:8]) + (" …" if len(g.students) > 8 else "")
                out.append(f"| {code(g.behaviour)} | {text(g.reason or '—')} | {text(g.summary)} | {g.count} | "
                           f"{students} |")
            if a.failure_groups_total > len(a.failures):
                out.append(f"\n…and {a.failure_groups_total - len(a.failures)} rarer kind(s) of failure "
                           "(see each student's feedback).")
            out.append("")
    return out


def class_report(summary: ClassSummary) -> str:
    """report.md: the Markdown twin of report.html."""
    runs = sum(a.graded for a in summary.assignments)
    tiers = ", ".join(f"{text(t)} ({n} run{'s' if n != 1 else ''})" for t, n in summary.tiers) or "—"
    versions = ", ".join(text(v) for v in summary.grader_versions) or "—"
    out = [f"# Class report{' — ' + text(summary.course) if summary.course else ''}", "",
           f"{runs} runs graded for {len(summary.students)} students and {len(summary.assignments)} "
           f"assignment(s). Generated {text(summary.generated_at)} by grader {versions}; isolation: {tiers}.",
           ""]
    for note in summary.tier_notes:
        out.append(f"> Isolation note: {text(note)}")
    if summary.tier_notes:
        out.append("")
    for a in summary.assignments:
        out += _assignment_section(a)
    out += ["## Students", ""]
    header = ["Student", *[code(a.name) for a in summary.assignments], "Total"]
    out += ["| " + " | ".join(header) + " |", "|---|" + "--:|" * (len(header) - 1)]
    for student in summary.students:
        row = [text(student)]
        for a in summary.assignments:
            c = summary.cells.get((student, a.name))
            if c is None:
                row.append("")
            elif c.status == "missing":
                row.append("missing")
            else:
                flag = " ⚠️" if c.errors else ""
                row.append(link(points(c.score, c.max_score), c.href) + flag)
        score, top = summary.total(student)
        row.append(points(score, top))
        out.append("| " + " | ".join(row) + " |")
    out += ["", "Each score links to that student's feedback.md. ⚠️ marks runs where the grader itself failed "
                "on a behaviour (regrade them with `grader grade --rerun-failed`)."]
    return "\n".join(out).rstrip() + "\n"
