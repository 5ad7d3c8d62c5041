"""What a student reads: a line per behaviour, and for each failure why, with numbers, and what to try."""

from __future__ import annotations

import re
import textwrap

from grader.i18n import N_, _, ljust, width
from grader.reporters.explain import GRADER_ERROR_NOTE, Explanation, explain, visible
from grader.results import BehaviourResult, SubmissionResult

# translated where used (the language is set after import); columns are aligned by display width (CJK: 2)
MARK = {"passed": N_("PASS"), "failed": N_("FAIL"), "error": N_("ERROR"), "not_graded": N_("SKIP")}
LABEL = {"expected": N_("expected"), "observed": N_("observed"), "why": N_("why"), "hint": N_("hint"),
         "transcript": N_("what the grader did"), "stderr": N_("server stderr (last lines)")}
INLINE = 13  # short labels share their line with the text: "  expected:  ..."


def explanation_text(e: Explanation) -> str:
    out = [f"{e.behaviour}: {e.headline}"]
    if e.grader_error:
        out.append("  " + _(GRADER_ERROR_NOTE))
    if e.title:
        out.append("  " + _("behaviour: {title}").format(title=e.title))
    for part in e.parts:
        label = _(LABEL[part.key]) + _(":")
        lines = part.body.splitlines() if part.verbatim else wrap(part.body, 90)
        if width(label) < INLINE - 3:
            out.append(f"  {ljust(label, INLINE - 2)}" + ("\n" + " " * INLINE).join(lines))
        else:
            out.append(f"  {label}")
            out += ["    " + ln if ln else ln for ln in lines]
    if e.rerun:
        out.append("  " + _("rerun just this: {command}").format(command=e.rerun))
    return "\n".join(out)


# a line may break before or after a wide (CJK) character, and at spaces; never inside a Latin word, a number
# or an identifier (`conn.setblocking(False)`, `127.0.0.1:9000`)
_UNIT = re.compile(r"\s+|[^\s\u1100-\uffff]+|.")


def wrap(text: str, columns: int) -> list[str]:
    """textwrap.wrap for English (byte for byte); text with wide characters is filled by display width."""
    if width(text) == len(text):
        return textwrap.wrap(text, columns)
    lines: list[str] = []
    line = ""
    for unit in _UNIT.findall(" ".join(text.split())):
        if unit.isspace():
            if line:
                line += " "
            continue
        if line and width(line.rstrip() + unit) > columns:
            lines.append(line.rstrip())
            line = ""
        line += unit
    if line.strip():
        lines.append(line.rstrip())
    return lines


def failure_text(r: BehaviourResult) -> str:
    """Every failure: the behaviour, what the grader did, expected, observed, why, hint, stderr, rerun."""
    return explanation_text(explain(r, r.rerun))


def render(result: SubmissionResult, *, show_passed_details: bool = False) -> str:
    lines = [f"{result.title or result.assignment} — {result.submission}",
             _("isolation: {tier}").format(tier=result.tier) + (f" ({result.tier_note})" if result.tier_note else ""),
             ""]
    id_width = max((len(b.id) for b in result.behaviours), default=10)
    mark_width = max(width(_(MARK[k])) for k in MARK)  # English: 5
    for b in result.behaviours:
        # one row, whatever the summary holds; a passed behaviour says how it was graded, if specially
        detail = "  " + " ".join(b.summary.split()) if b.summary else ""
        mark = ljust(_(MARK[b.status]), mark_width)
        lines.append(f"  {mark} {b.id:<{id_width}}  {b.score:g}/{b.max_score:g}{detail}")
    failed = [b for b in result.behaviours if b.status in ("failed", "error")]  # not_graded: said in its row
    if failed:
        heading = _("Why they failed")
        lines += ["", heading, "-" * width(heading)]
        for b in failed:
            lines += [failure_text(b), ""]
    lines.append(_("Total: {score} ({passed} of {total} behaviours passed, {seconds} s)").format(
        score=f"{result.score:g}/{result.max_score:g}", passed=sum(b.passed for b in result.behaviours),
        total=len(result.behaviours), seconds=f"{result.duration:.1f}"))
    # Titles, the submission's path and summaries can hold student text too.
    return visible("\n".join(lines))
