"""GitHub Classroom: the runner result read by `classroom-resources/autograding-grading-reporter@v1`.

The reporter reads, for each name in its `runners` input, the environment variable `<NAME>_RESULTS`
(upper-cased), base64-decodes it and parses JSON of this shape (the one the classroom-resources graders emit):

    {"version": 1, "status": "pass" | "fail" | "error", "max_score": N,
     "tests": [{"name", "status": "pass" | "fail" | "error", "score", "message", "test_code",
                "filename", "line_no", "duration"}]}

GitHub Classroom is then told `Points <sum of tests[].score>/<max_score>`; the reporter's console line
"Total points for X" instead uses (tests passed / tests) * max_score, which equals the sum only when every
behaviour is worth the same (reporter issue #10). The reporter fails the job when status is fail or error.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path

from grader.i18n import N_, _
from grader.reporters.explain import explain, rerun_here, visible
from grader.reporters.markdown import code, explanation, text
from grader.results import BehaviourResult, SubmissionResult

MESSAGE_CAP = 2000
# The reporter receives the base64 text in one environment variable, and Linux caps one at 128 KiB
# (MAX_ARG_STRLEN): past that the reporter step cannot even start. Messages shrink to stay well under it.
JSON_BUDGET = 60_000
STATUS = {"passed": "pass", "failed": "fail", "error": "error", "not_graded": "pass"}  # not graded: 0 of 0
# the log gets no transcript; translated where used
LABEL = {"expected": N_("expected"), "observed": N_("observed"), "why": N_("why"), "hint": N_("hint")}


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def _message(b: BehaviourResult, cap: int = MESSAGE_CAP) -> str:
    """Plain text for the reporter's log (a terminal-like view that interprets ANSI colours)."""
    if b.passed or cap <= 0:
        return ""
    e = explain(b, "")
    text = "\n".join([e.headline, *(_(LABEL[p.key]) + _(":") + f" {p.body}" for p in e.parts if p.key in LABEL)])
    return text if len(text) <= cap else text[: cap - 1] + "…"


def to_classroom(result: SubmissionResult) -> dict:
    for cap in (MESSAGE_CAP, 500, 120, 0):
        runner = _runner_result(result, cap)
        if len(json.dumps(runner, ensure_ascii=False).encode("utf-8")) <= JSON_BUDGET:
            break
    return runner


def _runner_result(result: SubmissionResult, cap: int) -> dict:
    tests = [{
        "name": visible(f"{b.id}: {b.title}" if b.title else b.id)[:200],
        "status": STATUS[b.status],
        "score": _num(b.score),
        "message": _message(b, cap),
        "test_code": visible(rerun_here(result.assignment, b)),
        "filename": "",
        "line_no": 0,
        "duration": int(round(b.duration * 1000)),
    } for b in result.behaviours]
    statuses = {t["status"] for t in tests}
    status = "error" if "error" in statuses else "fail" if "fail" in statuses else "pass"
    return {"version": 1, "status": status, "max_score": _num(result.max_score), "tests": tests}


def error_result(message: str) -> dict:
    """Nothing could be graded (e.g. a broken spec): the reporter prints the message and fails the job."""
    return {"version": 1, "status": "error", "max_score": 0,
            "tests": [{"name": "grader", "status": "error", "score": 0, "message": message,
                       "test_code": "", "filename": "", "line_no": 0, "duration": 0}]}


def encode(runner_result: dict) -> str:
    """The base64 value of the step output (one line, as `<ID>_RESULTS` expects)."""
    return base64.b64encode(json.dumps(runner_result, ensure_ascii=False).encode("utf-8")).decode("ascii")


def step_summary(result: SubmissionResult) -> str:
    """Markdown for $GITHUB_STEP_SUMMARY: a table of behaviours, then the failures explained."""
    lines = ["## " + _("{title}: {score} points").format(title=text(result.title or result.assignment),
                                                         score=f"{result.score:g}/{result.max_score:g}"), "",
             "| | " + _("behaviour") + " | " + _("points") + " |", "|---|---|---|"]
    for b in result.behaviours:
        mark = "✅" if b.passed else ("⚠️" if b.status == "error" else "❌")
        lines.append(f"| {mark} | {code(b.id)} {text(b.title)} | {b.score:g}/{b.max_score:g} |")
    failed = [b for b in result.behaviours if not b.passed]
    if failed:
        lines += ["", "### " + _("Why they failed")]
        for b in failed:
            e = explain(b, rerun_here(result.assignment, b))
            lines += ["", explanation(e, f"#### {code(e.behaviour)}: {text(e.headline)}")]
    footer = _("Graded by grader {version} (isolation: {tier}) in {seconds} s. These points come from your "
               "repository's workflow; your instructor's own grading run is the official grade.")
    lines += ["", "*" + footer.format(version=text(result.grader_version), tier=text(result.tier),
                                      seconds=f"{result.duration:.1f}") + "*", ""]
    return "\n".join(lines)


def emit(runner_result: dict, markdown: str | None = None, env: Mapping[str, str] | None = None) -> None:
    """Write `result=<base64>` to $GITHUB_OUTPUT and the Markdown to $GITHUB_STEP_SUMMARY, when set."""
    env = os.environ if env is None else env
    if env.get("GITHUB_OUTPUT"):
        with open(Path(env["GITHUB_OUTPUT"]), "a", encoding="utf-8") as fh:
            fh.write(f"result={encode(runner_result)}\n")
    if markdown and env.get("GITHUB_STEP_SUMMARY"):
        with open(Path(env["GITHUB_STEP_SUMMARY"]), "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")
