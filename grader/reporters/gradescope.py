"""Gradescope's results.json (autograder_samples docs/specs.md): one test per behaviour, feedback in Markdown.

Contract (validated against tests/schemas/gradescope_results.schema.json):
- top level: score (sum of the tests), execution_time (integer seconds), output + output_format "md",
  test_output_format "md", test_name_format "text", visibility, stdout_visibility, tests, extra_data;
- each test: name (starts with the behaviour id), number (ordering), score, max_score, status
  "passed"/"failed", output (Markdown), output_format "md", visibility (the behaviour's own: visible, hidden,
  after_due_date or after_published), tags, extra_data.
Student-controlled text (bytes the server sent, its stderr) only ever appears inside code fences that are
longer than any run of backticks in it, so it cannot break out into Markdown.
"""

from __future__ import annotations

import math
import re
import shlex

from grader.results import BehaviourResult, RunResult

TRANSCRIPT_LINES = 40
STDERR_LINES = 15


def fence(text: str, lang: str = "text") -> str:
    """`text` in a fenced code block no run of backticks inside it can close."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def code_span(text: str) -> str:
    """`text` as inline code (one line), safe whatever backticks it contains."""
    text = " ".join(text.split())
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def rerun_here(assignment: str, b: BehaviourResult) -> str:
    """The command a student runs in their own folder to reproduce one behaviour."""
    parts = ["grader", "check", assignment, ".", "--only", b.id]
    if b.seed is not None:
        parts += ["--seed", str(b.seed)]
    return shlex.join(parts)


def transcript_lines(b: BehaviourResult, limit: int = TRANSCRIPT_LINES) -> list[str]:
    events = b.transcript
    fmt = [f"t={e.t:6.2f}  {e.actor:<16} {e.text}" for e in events]
    if len(events) <= limit:
        return fmt
    head, tail = fmt[: limit // 2], fmt[-(limit // 2):]
    return [*head, f"        ... {len(events) - len(head) - len(tail)} more events ...", *tail]


def behaviour_markdown(b: BehaviourResult, assignment: str) -> str:
    """What a student reads about one behaviour: the verdict and, for a failure, why and what to try."""
    if b.passed:
        return f"**Passed** ({b.score:g}/{b.max_score:g}): {b.title or b.id}"
    if b.status == "error":
        out = [f"**Not graded: grader error** ({b.score:g}/{b.max_score:g}): {b.summary or b.title or b.id}",
               "The grader failed on this behaviour; this is not (necessarily) a fault of your code. "
               "Please tell your instructor."]
    else:
        out = [f"**Failed** ({b.score:g}/{b.max_score:g}): {b.summary or b.title or b.id}"]
    if b.title and b.summary:
        out.append(f"*Behaviour:* {b.title}")
    if b.expected:
        out.append(f"*Expected:* {b.expected}")
    if b.observed:
        out.append("*Observed:*\n\n" + fence(b.observed))
    if b.diagnosis:
        out.append(f"*Why:* {b.diagnosis}")
    if b.hint:
        out.append(f"*Hint:* {b.hint}")
    if b.transcript:
        out.append("*What the grader did:*\n\n" + fence("\n".join(transcript_lines(b))))
    if b.stderr_tail.strip():
        tail = "\n".join(b.stderr_tail.strip().splitlines()[-STDERR_LINES:])
        out.append("*Your program's stderr (last lines):*\n\n" + fence(tail))
    out.append("*Reproduce on your machine:* " + code_span(rerun_here(assignment, b)))
    return "\n\n".join(out)


def summary_markdown(result: RunResult) -> str:
    """The top-level message. Counts only what the student may see now, so hidden results never leak."""
    shown = [b for b in result.behaviours if b.visibility == "visible"]
    later = len(result.behaviours) - len(shown)
    passed = sum(b.passed for b in shown)
    lines = [f"**{result.title or result.assignment}**", ""]
    if shown:
        lines.append(f"{passed} of {len(shown)} behaviours shown here passed "
                     f"({sum(b.score for b in shown):g}/{sum(b.max_score for b in shown):g} points).")
    if later:
        lines.append(f"{later} more behaviour{'s are' if later != 1 else ' is'} graded but shown later.")
    iso = result.tier + (f" ({result.tier_note})" if result.tier_note else "")
    lines += ["", f"Graded by grader {result.grader_version}; isolation: {iso}. Each behaviour ran on a "
                  "fresh instance of your program; the command under each failure reproduces it on your machine."]
    return "\n".join(lines)


def to_gradescope(result: RunResult) -> dict:
    tests = []
    for i, b in enumerate(result.behaviours, start=1):
        tests.append({
            "name": f"{b.id}: {b.title}" if b.title else b.id,
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
        "extra_data": {"assignment": result.assignment, "tier": result.tier,
                       "grader_version": result.grader_version, "started_at": result.started_at,
                       "max_score": result.max_score},
    }
