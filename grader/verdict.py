"""The verdict of one behaviour: a pure function of what the grader observed, with its precedence in one place.

`verdict(spec, behaviour, outcome)` takes plain data (no run, no process, no exception object) and returns the
BehaviourResult. Precedence, strongest first:

1. a harness error (a bug of ours, survivors after teardown) makes the status `error`, whatever else happened;
2. a limit the sandbox enforced (memory, processes, output, time) is the reason of a failure or a crash;
3. a crash of the run (exited by itself while it should have run on, or a script's non-zero exit) is the
   reason of the failure the client saw, which was its consequence; its headline is the exception and line
   (except a death by the grader's own seccomp filter, `forbidden_syscall`: that failure names its cause);
4. a failure before the behaviour's scenario began (missing entry, syntax error, a server that never listened
   where it should or crashed at start) drops the behaviour's own hint, which is beside the point; it is
   reported by one behaviour (`start_owner`), the others say "not graded: <cause>" (reason `blocked_by`);
5. a behaviour graded again with a cause neutralised says how (`graded_with`), passed or failed;
6. what this grader cannot observe for a check (NotObservable: e.g. O_NONBLOCK flags through psutil) is
   `not_graded`, 0 of 0 points (totals leave it out), never failed, unless the run crashed, which any
   grader observes.

A crash is blamed on a reset ("after a client reset ...", the behaviour's reset hint) only when the traceback
ends in the recv()/send() that the reset hit; any other exception (a KeyError in the student's bookkeeping)
is named as itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from grader.i18n import _
from grader.results import BehaviourResult, Event
from grader.spec import Behaviour, Spec

# the behaviour's own hint is beside the point then
PREFLIGHT = {"missing_entry", "syntax_error", "submission_rejected"}
RESET_ERRORS = {"ConnectionResetError", "BrokenPipeError", "ConnectionAbortedError", "ConnectionError"}
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")
SOCKET_CALLS = (".recv(", ".recv_into(", ".send(", ".sendall(", ".recvfrom(", ".read(", ".write(")


@dataclass(frozen=True)
class Failure:
    """What a check found wrong (the plain-data copy of a BehaviourFailed)."""

    summary: str
    expected: str = ""
    observed: str = ""
    reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunFacts:
    """The last run of the behaviour, as the grader saw it after teardown."""

    exit_code: int | None
    alive: bool
    died: bool = False  # a server gone by itself when the check failed (whatever teardown read afterwards)
    stderr: str = ""  # as kept (capped), for the traceback
    stderr_tail: str = ""
    stdout_tail: str = ""
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    tier: str = ""
    memory_peak: int | None = None
    limit_hits: dict[str, str] = field(default_factory=dict)  # reason -> text, in the order they were hit


@dataclass(frozen=True)
class Outcome:
    """Everything one grading of one behaviour observed."""

    failure: Failure | None = None
    harness_error: str = ""
    not_observable: str = ""  # what the check needs and this grader cannot observe: not graded (0 of 0)
    diagnosis: str = ""  # where a stuck server sat, from /proc
    run: RunFacts | None = None
    title: str = ""
    seed: int | None = None
    duration: float = 0.0
    transcript: tuple[Event, ...] = ()
    rerun: str = ""
    graded_with: str = ""  # how the cause another behaviour judges was neutralised for this grading
    start_owner: str = ""  # the behaviour that reports a failure to start; the others are "not graded"


@dataclass(frozen=True)
class Crash:
    """The exception that ended a Python program, from the traceback on its stderr."""

    exception: str
    line: int | None
    source: str  # the statement of the last frame in the submission's own code

    @property
    def from_a_reset(self) -> bool:
        """The exception is what a reset raises, in a socket call: then "after a reset" is the cause."""
        return self.exception in RESET_ERRORS and any(c in self.source for c in SOCKET_CALLS)

    def __str__(self) -> str:
        return self.exception + (_(" at line {line}").format(line=self.line) if self.line else "")


def crash_of(stderr: str) -> Crash | None:
    """The last traceback's exception and the line of its last frame in the submission's own code (not in the
    standard library it called); None without a traceback."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Traceback")]
    if not starts:
        return None
    lines = lines[starts[-1]:]
    # The exception line is the first unindented `Name: message` after the frames (gevent, logging and the
    # like may print more lines after it).
    names = [m.group(1) for ln in lines[1:] if (m := EXCEPTION_LINE.match(ln))]
    if not names:
        return None
    exc = names[0]
    frames = [i for i, ln in enumerate(lines) if ln.strip().startswith("File ") and ", line " in ln]
    own = [i for i in frames if "/lib/python" not in lines[i] and "site-packages" not in lines[i]] or frames
    if not own:
        return Crash(exc.rsplit(".", 1)[-1], None, "")
    i = own[-1]
    try:
        line: int | None = int(lines[i].split(", line ")[1].split(",")[0])
    except (IndexError, ValueError):
        line = None
    source = lines[i + 1].strip() if i + 1 < len(lines) and not lines[i + 1].strip().startswith("File ") else ""
    source = source.split("  #", 1)[0].rstrip()  # an inline comment is not the statement
    return Crash(exc.rsplit(".", 1)[-1], line, source)


def crashed(spec: Spec, run: RunFacts | None) -> bool:
    if run is None:
        return False
    if spec.kind == "server":  # a server must run until the grader stops it
        return run.died or (run.exit_code not in (None, 137) and not run.alive)
    return run.exit_code not in (None, 0, 137)  # a script must exit 0 by itself


def verdict(spec: Spec, behaviour: Behaviour, outcome: Outcome) -> BehaviourResult:
    run = outcome.run
    failure = outcome.failure
    result = BehaviourResult(
        id=behaviour.id, title=behaviour.title or outcome.title, check=behaviour.check, status="passed",
        score=behaviour.points, max_score=behaviour.points, visibility=behaviour.visibility,
        hint="" if failure is not None and failure.reason in PREFLIGHT else behaviour.hint,  # rule 4
        seed=outcome.seed, duration=outcome.duration, transcript=list(outcome.transcript), rerun=outcome.rerun)
    did_crash = crashed(spec, run)
    limits: dict[str, str] = {}
    if run is not None:
        result.stderr_tail = run.stderr_tail
        result.stdout_tail = run.stdout_tail
        result.evidence.update(stdout_bytes=run.stdout_bytes, stderr_bytes=run.stderr_bytes, tier=run.tier)
        if run.memory_peak:
            result.evidence["memory_peak_bytes"] = run.memory_peak
        limits = dict(run.limit_hits)
        if "output_noted" in limits:
            result.evidence["output"] = limits.pop("output_noted")
    if outcome.graded_with:  # rule 5
        result.evidence["graded_with"] = outcome.graded_with
        result.summary = outcome.graded_with
    if outcome.harness_error:  # rule 1
        result.status, result.score, result.reason = "error", 0.0, "harness"
        result.summary = _("the grader itself failed on this behaviour (not your fault; tell your instructor)")
        result.observed = outcome.harness_error
        return result
    if limits and (failure is not None or did_crash):  # rule 2
        key, text = next(iter(limits.items()))
        base = failure or Failure(_("the server was stopped by a limit"))
        result.evidence["limits"] = limits
        _fail(result, base, reason=key, summary=f"{text}: {base.summary}")
        result.diagnosis = outcome.diagnosis
        return result
    who = "server" if spec.kind == "server" else "program"
    if failure is None and outcome.not_observable:  # rule 6
        if not did_crash:
            result.status, result.score, result.max_score, result.reason = "not_graded", 0.0, 0.0, "not_observable"
            result.summary = _("not graded here: {what}").format(what=outcome.not_observable)
            return result
        # a crash is observed anywhere
        failure = Failure(_("the server crashed") if who == "server" else _("the program crashed"), reason="crashed")
    if failure is None:
        return result
    _fail(result, failure, reason=failure.reason or ("crashed" if did_crash else ""), summary=failure.summary)
    result.diagnosis = outcome.diagnosis
    crash = crash_of(run.stderr) if run is not None else None
    own_cause = failure.reason in ("crashed", "forbidden_syscall")  # the failure already names why it died
    if did_crash and not own_cause and run is not None:  # rule 3: the crash is the root cause
        result.reason = "crashed"
        crashed_ = _("the server crashed") if who == "server" else _("the program crashed")
        result.summary = f"{crashed_}{f' ({crash})' if crash else ''}: {failure.summary}"
        if run.exit_code not in (None, 137):
            exited = (_("The server process exited with code {code} during this behaviour.") if who == "server"
                      else _("The program process exited with code {code} during this behaviour."))
            result.diagnosis = exited.format(code=run.exit_code)
        else:
            result.diagnosis = (_("The server process exited by itself during this behaviour.") if who == "server"
                                else _("The program process exited by itself during this behaviour."))
    elif failure.reason == "crashed" and crash is not None:
        result.summary = f"{failure.summary} ({crash})"
    if did_crash or failure.reason == "crashed":
        _name_the_real_cause(result, crash, failure, who)
        if crash is not None:  # the bug's signature, for charge_once
            result.evidence["crash"] = {"exception": crash.exception, "line": crash.line}
    if failure.reason == "no_connect" and outcome.diagnosis:
        result.hint = ""  # the why (a server that stopped accepting) is the lead, not the behaviour's hint
    if failure.evidence.get("stage") == "start":  # rule 4
        result.hint = ""
        if outcome.start_owner and behaviour.id != outcome.start_owner:
            result.reason = "blocked_by"
            result.evidence["blocked_by"] = outcome.start_owner
            result.summary = _("not graded: {summary} (see {behaviour})").format(summary=result.summary,
                                                                              behaviour=outcome.start_owner)
            result.diagnosis = ""
    if outcome.graded_with:
        result.diagnosis = " ".join(x for x in (result.diagnosis, _("This behaviour was {how}.").format(
            how=outcome.graded_with)) if x)
    return result


def charge_once(spec: Spec, results: list[BehaviourResult]) -> list[BehaviourResult]:
    """One bug, one behaviour charged, over the results of one submission (rule 4's "not graded: ... (see X)"
    for bugs found during the scenarios, not only at start):

    * the same crash (exception and line, during a scenario) in several behaviours: the first of them in the
      spec's order owns it; the others say "not graded: the server crashed with ... (see OWNER)";
    * a server that closes a connection after answering it (a second message on one connection gets nothing):
      echo's bug (the first failing behaviour that saw it); the others that failed only by that, likewise.
    Results are returned in the same order; only failed results change (their status and score stay)."""
    order = {b.id: i for i, b in enumerate(spec.behaviours)}
    failed = sorted((r for r in results if r.status == "failed" and r.id in order), key=lambda r: order[r.id])

    def crash_key(r: BehaviourResult) -> tuple[object, ...] | None:
        c = r.evidence.get("crash")
        if r.reason != "crashed" or not c or r.evidence.get("stage") == "start":
            return None
        return ("crash", c.get("exception"), c.get("line"))

    def closes_key(r: BehaviourResult) -> tuple[object, ...] | None:
        if r.reason == "server_closed" and r.evidence.get("closed_after_replies"):
            return ("closes_after_reply",)
        return None

    owners: dict[tuple[object, ...], BehaviourResult] = {}
    for r in failed:
        key = crash_key(r) or closes_key(r)
        if key is None:
            continue
        owner = owners.setdefault(key, r)
        if owner is r:
            continue
        if key[0] == "crash":
            what = owner.summary
        else:
            what = "the server closes a connection after answering it once"
        r.reason = "blocked_by"
        r.evidence["blocked_by"] = owner.id
        r.observed = f"{r.summary}; {r.observed}" if r.observed else r.summary
        r.summary = f"not graded: {what} (see {owner.id})"
        r.hint, r.diagnosis = "", ""
    return results


def _fail(result: BehaviourResult, failure: Failure, *, reason: str, summary: str) -> None:
    result.status, result.score, result.reason = "failed", 0.0, reason
    result.summary, result.expected, result.observed = summary, failure.expected, failure.observed
    result.evidence.update(failure.evidence)


def _name_the_real_cause(result: BehaviourResult, crash: Crash | None, failure: Failure, who: str) -> None:
    """A crash that is not the reset's own exception in a socket call: the exception and its line are the
    headline, and the step it happened in is context (a KeyError is not "a client reset its connection")."""
    if crash is None or crash.from_a_reset or crash.exception in RESET_ERRORS:
        return
    result.summary = (_("the server crashed with {crash}") if who == "server"
                      else _("the program crashed with {crash}")).format(crash=crash) + (
        f": {crash.source}" if crash.source else "")
    result.observed = f"{failure.summary}; {failure.observed}" if failure.observed else failure.summary
    where = _(" at line {line}").format(line=crash.line) if crash.line else ""
    started = failure.evidence.get("stage") != "start"
    by = _(", not by a client's disconnect") if who == "server" and started else ""
    result.hint = _("{exception} is raised by your own code{where}{by}: read the traceback below.").format(
        exception=crash.exception, where=where, by=by)
