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
from dataclasses import dataclass
from pathlib import Path

from grader.behaviour.diagnose import accepted_socket_blocking, explain_stuck
from grader.checks import library
from grader.errors import UsageError
from grader.failure import BehaviourFailed, NotObservable
from grader.harness.client import Event as TEvent
from grader.harness.context import Context
from grader.i18n import _, ngettext
from grader.results import BehaviourResult, Event
from grader.sandbox import RunView, Sandbox, intake, with_deadline
from grader.sandbox.intake import Caps
from grader.spec import Behaviour, Course, Spec, params_for
from grader.verdict import Failure, Outcome, RunFacts, verdict

# Checks that judge an accepted socket left in blocking mode: they keep that failure, the others are re-graded.
BLOCKING_ACCEPT_JUDGES = {"concurrent_clients", "nonblocking_sockets"}
MIN_REGRADE_SECONDS = 10.0  # a re-grade needs a fresh run and its scenario; never past the behaviour's budget


def rerun_command(spec: Spec, submission: Path, behaviour: Behaviour, seed: int | None) -> str:
    parts = ["grader", "check", spec.name, str(submission), "--only", behaviour.id]
    if seed is not None:
        parts += ["--seed", str(seed)]
    return shlex.join(parts)


def preflight(spec: Spec, submission: Path, caps: Caps | None = None) -> BehaviourFailed | None:
    """Problems that fail every behaviour at once, found without running anything: a missing folder or entry
    file, a submission intake refuses (links, special files, caps), a syntax error. Reads the validated copy."""
    if not submission.is_dir():
        return BehaviourFailed(_("submission folder {path} does not exist").format(path=submission),
                               expected=_("a folder containing {entry}").format(entry=spec.entry),
                               observed=_("no such folder"),
                               reason="missing_entry")
    caps = caps or intake.Caps()
    try:
        copy = intake.validated(submission, caps, spec.entry)
    except intake.SubmissionRejected as exc:
        return exc
    try:
        source = intake.read_entry(copy, spec.entry, caps.entry_bytes)
    except FileNotFoundError:
        present = sorted(intake.shown(p.name) for p in copy.iterdir() if p.is_file())[:10]
        return BehaviourFailed(_("{entry} is missing").format(entry=spec.entry),
                               expected=_("a file named {entry} in {path}").format(entry=spec.entry, path=submission),
                               observed=_("files present: {files}").format(files=", ".join(present) or _("none")),
                               reason="missing_entry")
    import ast

    try:
        ast.parse(source, filename=spec.entry)
    except SyntaxError as exc:
        line = (exc.text or "").rstrip()
        return BehaviourFailed(_("{entry} does not parse").format(entry=spec.entry),
                               expected=_("valid Python 3 source"),
                               observed=_("SyntaxError at line {line}: {message}").format(line=exc.lineno,
                                                                                          message=exc.msg)
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
        raise UsageError(_("no such user {name} to run submissions as (create it, e.g. `{command}`)").format(
            name=repr(name), command=f"adduser --system {name}")) from None
    return pw.pw_uid, pw.pw_gid


@dataclass
class Attempt:
    """One grading of the behaviour on one fresh run (or, re-graded, on a second one)."""

    ctx: Context
    failure: BehaviourFailed | None = None
    harness_error: str = ""
    not_observable: str = ""  # what this grader could not observe for the check (NotObservable): not graded
    diagnosis: str = ""
    accepted_blocking: bool = False  # the listener nonblocking, an accepted connection blocking, at failure
    died: bool = False  # the server was gone when the check failed, before the grader stopped it
    died_code: int | None = None  # its exit code then, if the sandbox had reaped it
    seconds: float = 0.0


def _attempt(spec: Spec, behaviour: Behaviour, submission: Path, course: Course, sandbox: Sandbox, seed: int,
             run_as: tuple[int, int] | None, budget: float) -> Attempt:
    check = library()[behaviour.check]
    # The sandbox kills the behaviour's runs when its time budget is spent (reason "timeout"), before the
    # session's pytest-timeout backstop (budget + 15 s) would end every behaviour at once.
    ctx = Context(spec, behaviour, submission, course, with_deadline(sandbox, budget), seed, run_as=run_as)
    attempt = Attempt(ctx)
    start = time.monotonic()
    try:
        caps = intake.caps_of(course.defaults)
        attempt.failure = preflight(spec, submission, caps) if check.needs_run else None
        if attempt.failure is None:
            check.func(ctx, params_for(spec, behaviour))
    except BehaviourFailed as exc:
        attempt.failure = exc
        if ctx.runs and exc.reason in ("server_closed", "no_connect"):
            # a crash closes every connection (and refuses new ones) a moment before the process is gone
            gone_soon(ctx.server)
        if ctx.runs and ctx.server.alive():
            if exc.reason in ("no_reply", "no_connect"):  # where is it stuck, and why
                attempt.diagnosis = explain_stuck(ctx.server, exc)
            attempt.accepted_blocking = accepted_socket_blocking(ctx.server)
        elif ctx.runs and spec.kind == "server":
            attempt.died, attempt.died_code = True, exit_code_of(ctx.server)
    except NotObservable as exc:
        observer = getattr(getattr(ctx.runs[-1], "observer", None), "name", "?") if ctx.runs else "?"
        attempt.not_observable = _("{what} (this grader observes through {observer})").format(what=exc,
                                                                                               observer=observer)
    except Exception as exc:  # noqa: BLE001 - a bug of the grader: report it, never lose the other results
        attempt.harness_error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
    finally:
        ctx.close()
    if not attempt.harness_error:  # leftovers make any verdict untrustworthy, a failed one included
        for td in ctx.teardowns:
            if not td.clean:
                attempt.harness_error = _("the sandbox left processes alive after teardown: {survivors}").format(
                    survivors=td.survivors)
    attempt.seconds = time.monotonic() - start
    return attempt


def gone_soon(run: RunView, wait: float = 1.0) -> bool:
    """Whether the run's main process is gone within `wait` seconds."""
    deadline = time.monotonic() + wait
    while run.alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    return not run.alive()


def exit_code_of(run: RunView, wait: float = 1.0) -> int | None:
    """The code of a run whose main process is gone. Read before teardown: a sandbox's own pid 1 may not have
    reaped it yet, and stopping the run then would report the grader's SIGKILL (137) instead of the crash."""
    deadline = time.monotonic() + wait
    while run.exit_code is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return run.exit_code


def judges_blocking_accept(spec: Spec) -> list[str]:
    """The behaviours that judge an accepted socket left in blocking mode (and so keep that failure)."""
    return [b.id for b in spec.behaviours if b.check in BLOCKING_ACCEPT_JUDGES]


def should_regrade(spec: Spec, behaviour: Behaviour, first: Attempt) -> bool:
    """One bug, one behaviour: a failure caused by an accepted socket in blocking mode is charged to the
    behaviours that judge that; the others are graded again with the cause neutralised (Windows' accept())."""
    return (spec.options.regrade_with_cause_neutralised and not spec.options.windows_accept_inherits_nonblocking
            and first.failure is not None and not first.harness_error and first.accepted_blocking
            and behaviour.check not in BLOCKING_ACCEPT_JUDGES and bool(judges_blocking_accept(spec)))


def with_windows_accept(spec: Spec) -> Spec:
    return spec.model_copy(update={"options": spec.options.model_copy(
        update={"windows_accept_inherits_nonblocking": True})})


def grade_behaviour(spec: Spec, behaviour: Behaviour, submission: Path, course: Course, sandbox: Sandbox,
                    seed: int | None = None, run_as: str | None = None) -> BehaviourResult:
    seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
    check = library()[behaviour.check]
    budget = (behaviour.timeout or course.defaults.behaviour_timeout) + (
        spec.startup_timeout or course.defaults.startup_timeout)
    uid = user_ids(run_as)
    final = first = _attempt(spec, behaviour, submission, course, sandbox, seed, uid, budget)
    note = ""
    left = budget - first.seconds
    if should_regrade(spec, behaviour, first) and left >= MIN_REGRADE_SECONDS:
        judges = " and ".join(judges_blocking_accept(spec))
        note = ngettext("graded with accepted sockets made nonblocking (as on Windows), since {judges} "
                        "judges the accepted socket left in blocking mode that the server was stuck on",
                        "graded with accepted sockets made nonblocking (as on Windows), since {judges} "
                        "judge the accepted socket left in blocking mode that the server was stuck on",
                        1 if " and " not in judges else 2).format(judges=judges)
        second = _attempt(with_windows_accept(spec), behaviour, submission, course, sandbox, seed, uid, left)
        assert first.failure is not None  # should_regrade: only a failed first attempt is graded again
        first_failed = _("{note}; the first run failed: {summary}").format(note=note, summary=first.failure.summary)
        second.ctx.transcript.events.insert(0, TEvent(0.0, "grader", first_failed))
        final = second
    failure, ctx = final.failure, final.ctx
    run = ctx.runs[-1] if ctx.runs else None
    owner = next((b.id for b in spec.behaviours if library()[b.check].needs_run), "")
    outcome = Outcome(
        failure=None if failure is None else Failure(failure.summary, failure.expected, failure.observed,
                                                     failure.reason, dict(failure.evidence)),
        harness_error=final.harness_error, not_observable=final.not_observable, diagnosis=final.diagnosis,
        run=None if run is None else run_facts(run, final), title=check.doc.split("\n")[0], seed=seed,
        duration=round(first.seconds + (final.seconds if final is not first else 0.0), 3),
        transcript=tuple(Event(t=e.t, actor=e.actor, text=e.text) for e in ctx.transcript.events),
        rerun=rerun_command(spec, submission, behaviour, seed), graded_with=note, start_owner=owner)
    return verdict(spec, behaviour, outcome)


def run_facts(run: RunView, attempt: Attempt | None = None) -> RunFacts:
    """What the verdict needs from the last run, read after teardown, except whether a server died by itself
    (and its code), which only the moment of the failure tells."""
    died_code = attempt.died_code if attempt is not None and attempt.died else None
    died = attempt is not None and attempt.died
    code = died_code if died_code is not None else run.exit_code
    return RunFacts(exit_code=code, alive=run.alive(), died=died, stderr=run.stderr.text(),
                    stderr_tail=run.stderr.tail(3000), stdout_tail=run.stdout.tail(1500),
                    stdout_bytes=run.stdout.total, stderr_bytes=run.stderr.total, tier=run.tier,
                    memory_peak=getattr(run, "memory_peak", None), limit_hits=run.limit_hits())
