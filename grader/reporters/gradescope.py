"""Gradescope's results.json (autograder_samples docs/specs.md): one test per behaviour, feedback in Markdown.

Contract (validated against tests/schemas/gradescope_results.schema.json):
- top level: score (sum of the tests), execution_time (integer seconds), output + output_format "md",
  test_output_format "md", test_name_format "text", visibility, stdout_visibility, tests, extra_data;
- each test: name (starts with the behaviour id), number (ordering), score, max_score, status
  "passed"/"failed", output (Markdown), output_format "md", visibility (the behaviour's own: visible, hidden,
  after_due_date or after_published), tags, extra_data.
Each failure is explained by grader.reporters.explain and formatted by grader.reporters.markdown, as in
feedback.md: student-controlled text only appears escaped or inside code fences it cannot close, with its
control characters shown as escapes.
"""

from __future__ import annotations

import math

from grader.i18n import _, ngettext
from grader.reporters.explain import explain, rerun_here, visible
from grader.reporters.markdown import explanation, text
from grader.results import BehaviourResult, SubmissionResult


def behaviour_markdown(b: BehaviourResult, assignment: str) -> str:
    """What a student reads about one behaviour: the verdict and, for a failure, why and what to try."""
    e = explain(b, rerun_here(assignment, b))
    verdict = f"({b.score:g}/{b.max_score:g})"
    if b.passed:
        return f"**{_('Passed')}** {verdict}: {text(e.title or e.behaviour)}"
    kind = _("Not graded: grader error") if e.grader_error else _("Failed")
    return explanation(e, f"**{kind}** {verdict}: {text(e.headline)}").rstrip("\n")


def summary_markdown(result: SubmissionResult) -> str:
    """The top-level message. Counts only what the student may see now, so hidden results never leak."""
    shown = [b for b in result.behaviours if b.visibility == "visible"]
    later = len(result.behaviours) - len(shown)
    passed = sum(b.passed for b in shown)
    lines = [f"**{text(result.title or result.assignment)}**", ""]
    if shown:
        lines.append(_("{passed} of {shown} behaviours shown here passed ({score} points).").format(
            passed=passed, shown=len(shown),
            score=f"{sum(b.score for b in shown):g}/{sum(b.max_score for b in shown):g}"))
    if later:
        lines.append(ngettext("{n} more behaviour is graded but shown later.",
                              "{n} more behaviours are graded but shown later.", later).format(n=later))
    iso = result.tier + (f" ({result.tier_note})" if result.tier_note else "")
    lines += ["", _("Graded by grader {version}; isolation: {tier}. Each behaviour ran on a fresh instance of your "
                    "program; the command under each failure reproduces it on your machine.").format(
        version=text(result.grader_version), tier=text(iso))]
    return "\n".join(lines)


def to_gradescope(result: SubmissionResult) -> dict:
    tests = []
    for i, b in enumerate(result.behaviours, start=1):
        tests.append({
            "name": visible(f"{b.id}: {b.title}" if b.title else b.id),
            "number": str(i),
            "score": b.score,
            "max_score": b.max_score,
            "status": "passed" if b.passed else "failed",
            "output": behaviour_markdown(b, result.assignment),
            "output_format": "md",
            "visibility": b.visibility,
            "tags": [b.check] + ([b.reason] if b.reason else []),
            "extra_data": {"behaviour": b.id, "status": b.status, "reason": b.reason, "seed": b.seed,
                           "duration": b.duration},
        })
    return {
        "score": sum(t["score"] for t in tests),
        "execution_time": int(math.ceil(result.duration)),
        "output": summary_markdown(result),
        "output_format": "md",
        "test_output_format": "md",
        "test_name_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"assignment": result.assignment, "tier": result.tier, "python": result.python,
                       "grader_version": result.grader_version, "started_at": result.started_at,
                       "max_score": result.max_score},
    }
