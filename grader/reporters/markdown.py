"""Markdown: a student's feedback.md for one run, and the class report's Markdown twin.

Pure functions over results. Text a submission controls (bytes its server sent, its stderr) only appears
inside code fences longer than any run of backticks in it; other prose is escaped, so nothing a student
sends can turn into links, HTML or formatting; and control characters show as escapes (`\x1b`) everywhere,
for whoever reads the file with `cat`.
"""

from __future__ import annotations

import re

from grader.i18n import N_, _, ngettext
from grader.reporters.class_summary import AssignmentStats, Cell, ClassSummary
from grader.reporters.explain import GRADER_ERROR_NOTE, Explanation, explain, rerun_here, visible
from grader.results import BehaviourResult, SubmissionResult

# translated where used (the language is set after import)
MARK = {"passed": N_("✅ pass"), "failed": N_("❌ FAIL"), "error": N_("⚠️ ERROR"), "not_graded": N_("➖ not graded")}
_SPECIAL = re.compile(r"[\\`*\[\]<>|#!~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def text(s: str) -> str:
    """One line of prose, safe in Markdown (also inside a table cell)."""
    s = " ".join(visible(str(s)).split())
    return _SPECIAL.sub(lambda m: "\\" + m.group(0), s)


def fence(body: str, lang: str = "text") -> str:
    body = visible(body)
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{body.rstrip()}\n{ticks}"


def code(s: str) -> str:
    """Inline code, whatever backticks `s` holds."""
    s = " ".join(visible(str(s)).split())
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{ticks}{pad}{s}{pad}{ticks}"


def link(label: str, href: str) -> str:
    return f"[{text(label)}](<{href.replace('>', '%3E').replace('<', '%3C')}>)"


def points(score: float, top: float) -> str:
    return f"{score:g} / {top:g}"


LABEL = {"expected": N_("Expected"), "observed": N_("Observed"), "why": N_("Why"), "hint": N_("Hint"),
         "transcript": N_("What the grader did"), "stderr": N_("Your program's stderr (last lines)")}


def explanation(e: Explanation, heading: str) -> str:
    """One failure in Markdown, under `heading`: the same text in feedback.md, the Classroom step summary and
    Gradescope's results.json. Prose is escaped; verbatim parts go in fences nothing inside can close. One
    paragraph per part, no nesting: a fence inside a list item renders differently from one renderer to the
    next (Gradescope's is not GitHub's)."""
    out = [heading]
    if e.grader_error:
        out.append(_(GRADER_ERROR_NOTE))
    if e.title:
        out.append("**" + _("Behaviour:") + "** " + _("{title} ({points} points)").format(
            title=text(e.title), points=points(e.score, e.max_score)))
    for part in e.parts:
        label = f"**{_(LABEL[part.key])}{_(':')}**"
        out.append(f"{label}\n\n{fence(part.body)}" if part.verbatim else f"{label} {text(part.body)}")
    out.append("**" + _("Reproduce on your machine:") + f"** {code(e.rerun)}")
    return "\n\n".join(out) + "\n"


def behaviour_section(b: BehaviourResult, assignment: str) -> str:
    """feedback.md's section on one failed behaviour."""
    e = explain(b, rerun_here(assignment, b))
    return explanation(e, f"### {_(MARK[b.status])} {code(e.behaviour)}: {text(e.headline)}")


def feedback(result: SubmissionResult) -> str:
    """feedback.md for one student's run: a table of verdicts, then each failure explained.

    Behaviours with visibility 'hidden' show their verdict only (students never see their details on
    Gradescope either)."""
    who = result.student or result.submission
    passed = sum(b.passed for b in result.behaviours)
    lines = [f"# {text(result.title or result.assignment)} — {text(who)}", "",
             "**" + _("{points} points").format(points=points(result.score, result.max_score)) + "** · "
             + _("{passed} of {total} behaviours passed").format(passed=passed, total=len(result.behaviours)), "",
             "| " + " | ".join((_("Result"), _("Behaviour"), _("Points"))) + " |", "|---|---|---|"]
    for b in result.behaviours:
        title = f"{code(b.id)}: {text(b.title)}" if b.title else code(b.id)
        hidden = " *" + _("(hidden)") + "*" if b.visibility == "hidden" else ""
        lines.append(f"| {_(MARK[b.status])} | {title}{hidden} | {points(b.score, b.max_score)} |")
    failed = [b for b in result.behaviours if b.status in ("failed", "error")]  # not_graded: in the table
    shown = [b for b in failed if b.visibility != "hidden"]
    if failed:
        lines += ["", "## " + _("What to fix"), ""]
        first_of: dict[tuple[str, str, str], BehaviourResult] = {}
        ids = {b.id for b in shown}
        for b in shown:
            # One cause failing several behaviours (a crash at start, a syntax error) is explained once:
            # by the behaviour the grader charged it to (blocked_by), else by the first with that wording.
            cause = (b.reason, b.summary, b.stderr_tail.strip())
            owner = b.evidence.get("blocked_by") if b.reason == "blocked_by" else None
            same = owner if owner in ids else (first_of[cause].id if b.reason and cause in first_of else None)
            if same:
                lead = (_("not graded: the same failure as {behaviour}") if owner == same
                        else _("the same failure as {behaviour}")).format(behaviour=code(same))
                lines += [f"### {_(MARK[b.status])} {code(b.id)}: {lead}",
                          "", "**" + _("Reproduce on your machine:") + f"** {code(rerun_here(result.assignment, b))}",
                          ""]
                continue
            first_of.setdefault(cause, b)
            lines += [behaviour_section(b, result.assignment)]
        if len(shown) < len(failed):
            lines += [_("{n} hidden behaviour(s) failed; their details are not shown.").format(
                n=len(failed) - len(shown)), ""]
    else:
        lines += ["", _("Every behaviour passed. Well done."), ""]
    iso = result.tier + (f" ({result.tier_note})" if result.tier_note else "")
    lines += ["---", "",
              _("Graded by grader {version} on {date} in {seconds} s; isolation: {tier}. Each behaviour ran on a "
                "fresh instance of your program; the command under each failure reproduces it on your machine "
                "(with the same random payloads).").format(
                  version=text(result.grader_version), date=text(result.started_at),
                  seconds=f"{result.duration:.1f}", tier=text(iso))]
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
    missing = _(", {n} missing ({students})").format(
        n=len(a.missing), students=", ".join(text(s) for s in a.missing)) if a.missing else ""
    if a.graded:
        out.append(_("{graded} graded{missing}. Mean {mean} / {top}, median {median}, full marks {full} of "
                     "{graded}.").format(graded=a.graded, missing=missing, mean=f"{a.mean:.1f}",
                                         top=f"{a.max_score:g}", median=f"{a.median:g}", full=a.full_marks))
    else:
        out.append(_("Nothing graded{missing}.").format(missing=missing))
    out.append("")
    if a.graded:
        out += ["### " + _("Score distribution"), ""]
        peak = max((b.count for b in a.histogram), default=0) or 1
        width = max(len(b.label) for b in a.histogram)
        rows = [f"{b.label:>{width}} │{'█' * round(30 * b.count / peak):<30} {b.count}" for b in a.histogram]
        out += [fence("\n".join(rows)), ""]
        out += ["### " + _("Pass rate per behaviour"), "",
                "| " + " | ".join((_("Behaviour"), _("Points"), _("Passed"), _("Pass rate"))) + " | |",
                "|---|--:|--:|--:|---|"]
        for s in a.behaviours:
            err = " (" + ngettext("{n} grader error", "{n} grader errors", s.errors).format(n=s.errors) + ")" \
                if s.errors else ""
            out.append(f"| {code(s.id)} | {s.points:g} | {s.passed}/{s.graded}{err} | {_pct(s.pass_rate)} | "
                       f"`{bar(s.pass_rate)}` |")
        out.append("")
        out += ["### " + _("Most common failures"), ""]
        if not a.failures:
            out += [_("No behaviour failed."), ""]
        else:
            out += ["| " + " | ".join((_("Behaviour"), _("Reason"), _("What the grader saw (most common wording)"),
                                       _("Runs"), _("Students"))) + " |",
                    "|---|---|---|--:|---|"]
            for g in a.failures:
                students = ", ".join(text(s) for s in g.students[:8]) + (" …" if len(g.students) > 8 else "")
                out.append(f"| {code(g.behaviour)} | {text(g.reason or '—')} | {text(g.summary)} | {g.count} | "
                           f"{students} |")
            if a.failure_groups_total > len(a.failures):
                out.append("\n" + _("…and {n} rarer kind(s) of failure (see each student's feedback).").format(
                    n=a.failure_groups_total - len(a.failures)))
            out.append("")
    return out


def _score_cell(c: Cell | None) -> str:
    if c is None:
        return ""
    if c.status == "missing":
        return _("missing")
    return link(points(c.score, c.max_score), c.href) + (" ⚠️" if c.errors else "")


def class_report(summary: ClassSummary) -> str:
    """report.md: the Markdown twin of report.html."""
    runs = sum(a.graded for a in summary.assignments)
    tiers = ", ".join(f"{text(t)} (" + ngettext("{n} run", "{n} runs", n).format(n=n) + ")"
                      for t, n in summary.tiers) or "—"
    versions = ", ".join(text(v) for v in summary.grader_versions) or "—"
    out = ["# " + _("Class report") + (" — " + text(summary.course) if summary.course else ""), "",
           _("{runs} runs graded for {students} students and {assignments} assignment(s). Generated {date} by "
             "grader {versions}; isolation: {tiers}.").format(
               runs=runs, students=len(summary.students), assignments=len(summary.assignments),
               date=text(summary.generated_at), versions=versions, tiers=tiers),
           ""]
    for note in summary.tier_notes:
        out.append("> " + _("Isolation note: {note}").format(note=text(note)))
    if summary.tier_notes:
        out.append("")
    for a in summary.assignments:
        out += _assignment_section(a)
    out += ["## " + _("Students"), ""]
    header = [_("Student"), *[code(a.name) for a in summary.assignments], _("Total")]
    out += ["| " + " | ".join(header) + " |", "|---|" + "--:|" * (len(header) - 1)]
    for student in summary.students:
        row = [text(student), *map(_score_cell, summary.row(student))]
        score, top = summary.total(student)
        row.append(points(score, top))
        out.append("| " + " | ".join(row) + " |")
    out += ["", _("Each score links to that student's feedback.md. ⚠️ marks runs where the grader itself failed "
                  "on a behaviour (regrade them with `{command}`).").format(command="grader grade --rerun-failed")]
    return "\n".join(out).rstrip() + "\n"
