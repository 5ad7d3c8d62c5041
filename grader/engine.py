"""Grade one behaviour of one submission: fresh sandboxed run, check, observations, teardown, result.

`grade_behaviour` never raises for anything the submission does: a crash, hang or limit becomes a failed
behaviour with a reason. Only a broken grader (a bug of ours, a sandbox that left survivors) becomes status
`error`.
"""

from __future__ import annotations

import os
import shlex
import time
import traceback
from pathlib import Path

from grader.checks import library
from grader.context import Context
from grader.diagnose import explain_stuck
from grader.failure import BehaviourFailed, NotObservable
from grader.results import BehaviourResult, Event
from grader.sandbox import Sandbox, with_deadline
from grader.spec import Behaviour, Course, Spec, params_for

PREFLIGHT = {"missing_entry", "syntax_error"}  # the behaviour's own hint is beside the point then


def rerun_command(spec: Spec, submission: Path, behaviour: Behaviour, seed: int | None) -> str:
    parts = ["grader", "check", spec.name, str(submission), "--only", behaviour.id]
    if seed is not None:
        parts += ["--seed", str(seed)]
    return shlex.join(parts)


def preflight(spec: Spec, submission: Path) -> BehaviourFailed | None:
    """Problems that fail every behaviour at once, found without running anything."""
    entry = submission / spec.entry
    if not submission.is_dir():
        return BehaviourFailed(f"submission folder {submission} does not exist",
                               expected=f"a folder containing {spec.entry}", observed="no such folder",
                               reason="missing_entry")
    if not entry.is_file():
        present = sorted(p.name for p in submission.iterdir() if p.is_file())[:10]
        return BehaviourFailed(f"{spec.entry} is missing", expected=f"a file named {spec.entry} in {submission}",
                               observed=f"files present: {', '.join(present) or 'none'}", reason="missing_entry")
    import ast

    try:
        ast.parse(entry.read_text(encoding="utf-8", errors="replace"), filename=spec.entry)
    except SyntaxError as exc:
        line = (exc.text or "").rstrip()
        return BehaviourFailed(f"{spec.entry} does not parse", expected="valid Python 3 source",
                               observed=f"SyntaxError at line {exc.lineno}: {exc.msg}"
                                        + (f"\n    {line}" if line else ""),
                               reason="syntax_error")
    return None


def user_ids(name: str | None) -> tuple[int, int] | None:
    """(uid, gid) of a user name or number, for running the submission unprivileged."""
    if not name:
        return None
    import pwd

    try:
        pw = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except KeyError:
        from grader.errors import UsageError

        raise UsageError(f"no such user {name!r} to run submissions as (create it, e.g. `adduser --system "
                         f"{name}`)") from None
    return pw.pw_uid, pw.pw_gid


def crash_cause(stderr: str) -> str:
    """` (ConnectionResetError at line 9)` from a Python traceback on stderr, or ''. The line is the last
    frame in the submission's own code, not in the standard library it called."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    if not lines or not any(ln.startswith("Traceback") for ln in lines):
        return ""
    exc = lines[-1].split(":")[0].strip()
    frames = [ln.strip() for ln in lines if ln.strip().startswith("File ") and ", line " in ln]
    own = [f for f in frames if "/lib/python" not in f and "site-packages" not in f] or frames
    where = " at line " + own[-1].split(", line ")[1].split(",")[0] if own else ""
    return f" ({exc}{where})" if exc and " " not in exc else ""


def grade_behaviour(spec: Spec, behaviour: Behaviour, submission: Path, course: Course, sandbox: Sandbox,
                    seed: int | None = None, run_as: str | None = None) -> BehaviourResult:
    seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
    check = library()[behaviour.check]
    params = params_for(spec, behaviour)
    # The sandbox kills the behaviour's runs when its time budget is spent (reason "timeout"), before the
    # session's pytest-timeout backstop (budget + 15 s) would end every behaviour at once.
    budget = (behaviour.timeout or course.defaults.behaviour_timeout) + (
        spec.startup_timeout or course.defaults.startup_timeout)
    ctx = Context(spec, behaviour, submission, course, with_deadline(sandbox, budget), seed,
                  run_as=user_ids(run_as))
    start = time.monotonic()
    failure: BehaviourFailed | None = None
    not_graded: NotObservable | None = None
    harness_error = ""
    diagnosis = ""
    try:
        failure = preflight(spec, submission) if check.needs_run else None
        if failure is None:
            check.func(ctx, params)
    except BehaviourFailed as exc:
        failure = exc
        if exc.reason == "no_reply" and ctx.runs and ctx.server.alive():  # where is it stuck, and why
            diagnosis = explain_stuck(ctx.server, exc)
    except NotObservable as exc:
        not_graded = exc
    except Exception as exc:  # noqa: BLE001 - a bug of the grader: report it, never lose the other results
        harness_error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
    finally:
        ctx.close()
    if not harness_error:  # leftovers make any verdict untrustworthy, a failed one included
        for td in ctx.teardowns:
            if not td.clean:
                harness_error = f"the sandbox left processes alive after teardown: {td.survivors}"
    # A crash is a fact worth stating whatever the check thought went wrong.
    run = ctx.runs[-1] if ctx.runs else None
    if spec.kind == "server":  # a server must run until the grader stops it
        crashed = run is not None and run.exit_code not in (None, 137) and not run.alive()
    else:  # a script must exit 0 by itself
        crashed = run is not None and run.exit_code not in (None, 0, 137)
    result = BehaviourResult(
        id=behaviour.id, title=behaviour.title or check.doc.split("\n")[0], check=behaviour.check,
        status="passed", score=behaviour.points, max_score=behaviour.points, visibility=behaviour.visibility,
        hint="" if failure is not None and failure.reason in PREFLIGHT else behaviour.hint, seed=seed,
        duration=round(time.monotonic() - start, 3),
        transcript=[Event(t=e.t, actor=e.actor, text=e.text) for e in ctx.transcript.events],
        rerun=rerun_command(spec, submission, behaviour, seed),
    )
    if run is not None:
        result.stderr_tail = run.stderr.tail(3000)
        result.stdout_tail = run.stdout.tail(1500)
        result.evidence["stdout_bytes"] = run.stdout.total
        result.evidence["stderr_bytes"] = run.stderr.total
        result.evidence["tier"] = run.tier
        if getattr(run, "memory_peak", None):
            result.evidence["memory_peak_bytes"] = run.memory_peak
        hits = run.limit_hits()
        if "output_noted" in hits:
            result.evidence["output"] = hits.pop("output_noted")
        if hits and (failure is not None or crashed):
            # A limit the sandbox enforced explains the failure better than what the client saw.
            key, text = next(iter(hits.items()))
            failure = failure or BehaviourFailed("the server was stopped by a limit")
            failure.reason = key
            failure.summary = f"{text}: {failure.summary}"
            result.evidence["limits"] = dict(hits)
    if harness_error:
        result.status, result.score, result.reason = "error", 0.0, "harness"
        result.summary = "the grader itself failed on this behaviour (not your fault; tell your instructor)"
        result.observed = harness_error
    elif failure is not None:
        result.status, result.score = "failed", 0.0
        result.reason = failure.reason or ("crashed" if crashed else "")
        result.summary, result.expected, result.observed = failure.summary, failure.expected, failure.observed
        result.evidence.update(failure.evidence)
        if crashed and failure.reason != "crashed" and "limits" not in result.evidence and run is not None:
            # The crash is the root cause; what the client saw is its consequence.
            result.reason = "crashed"
            who = "server" if spec.kind == "server" else "program"
            result.summary = f"the {who} crashed{crash_cause(run.stderr.text())}: {failure.summary}"
            diagnosis = f"The {who} process exited with code {run.exit_code} during this behaviour."
        elif failure.reason == "crashed" and run is not None:
            result.summary = failure.summary + crash_cause(run.stderr.text())
        result.diagnosis = diagnosis
    elif not_graded is not None and not crashed:  # counts for nothing either way: score 0 of max 0
        result.status, result.score, result.max_score, result.reason = "not_graded", 0.0, 0.0, "not_observable"
        result.summary = f"not graded here: {not_graded}"
        result.observed = f"this grader observes through {getattr(run, 'observer', None) and run.observer.name}"
    return result
