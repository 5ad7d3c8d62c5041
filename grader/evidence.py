"""Runtime evidence for the uses_* checks, beside the AST: what the program really did while it ran.

Two sources, both the grader's own observations (never what the student's program prints):
* the grader's observer inside the run (grader/site/sitecustomize.py): modules the program's own code
  imported, watched functions it called, greenlets that ran; its records come over its own channel (a
  duplicate of the stderr pipe) under the run's nonce, and are taken out of stderr by the drain thread;
* the run's snapshots, sampled from outside: the system calls the program's processes wait in.

A run whose observer never said hello, or whose channel was closed or replaced, was not observed: that is
a failure ("could not observe"), never a pass.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from grader.failure import BehaviourFailed
from grader.i18n import _

READINESS_WAITS = frozenset({"select", "pselect6", "poll", "ppoll", "epoll_wait", "epoll_pwait", "epoll_pwait2"})
# modules whose use shows as a wait in one of READINESS_WAITS, and the calls the observer watches for them
READINESS_MODULES = {"select": ("select.select", "select.poll", "select.epoll"),
                     "selectors": ("select.select", "select.poll", "select.epoll")}


@dataclass
class Evidence:
    hello: bool = False
    channel_fd: int | None = None
    imports: list[tuple[str, str]] = field(default_factory=list)  # (module, 'file:line')
    calls: list[tuple[str, str]] = field(default_factory=list)  # (dotted name, 'file:line')
    greenlets: int = 0


def observer_env(nonce: str, forbidden_modules: list[str], trace_greenlets: bool) -> dict[str, str]:
    """What the run's environment tells the observer to watch."""
    env = {"GRADER_EVIDENCE": nonce}
    if forbidden_modules:
        env["GRADER_WATCH_MODULES"] = ",".join(forbidden_modules)
        calls = sorted({c for m in forbidden_modules for c in READINESS_MODULES.get(m, ())})
        if calls:
            env["GRADER_WATCH_CALLS"] = ",".join(calls)
    if trace_greenlets:
        env["GRADER_TRACE_GREENLETS"] = "1"
    return env


def gather(run, nonce: str, settle: float = 1.0) -> Evidence:
    """The observer's records of `run` (waiting up to `settle` s for its hello to be drained)."""
    frames = run.stderr.frames
    deadline = time.monotonic() + settle
    while frames.nonce is None and time.monotonic() < deadline and not run.stderr.closed.is_set():
        time.sleep(0.02)
    ev = Evidence()
    if frames.nonce != nonce:
        return ev
    for _t, kind, text in list(frames.records):
        parts = text.split(" ")
        if kind == "hello":
            ev.hello = True
            fd = parts[-1].removeprefix("fd=")
            ev.channel_fd = int(fd) if fd.isdigit() else None
        elif kind in ("import", "call") and len(parts) == 2:
            (ev.imports if kind == "import" else ev.calls).append((parts[0], parts[1]))
        elif kind == "greenlets" and parts[0].isdigit():
            ev.greenlets = max(ev.greenlets, int(parts[0]))
    return ev


def channel_cut(run, ev: Evidence) -> bool:
    """True when the observer's channel in the running program is no longer the stderr pipe the grader
    drains (closed, or replaced). False when it is intact, or cannot be checked (the program is gone, or its
    fds are not observable here): then only the records count."""
    inode = getattr(run.stderr, "pipe_inode", None)
    main = run.snapshot().main
    if main is None or not main.fds_listed or ev.channel_fd is None or inode is None:
        return False  # gone, or which fd is which is not observable here (psutil only counts them)
    entry = next((f for f in main.fds or () if f.fd == ev.channel_fd), None)
    if entry is None:  # closed, unless the process just exited
        return run.snapshot().main is not None
    return entry.pipe != inode


def sample_waits(run, seconds: float, interval: float = 0.02) -> Counter:
    """How often the program's processes were seen waiting in each system call, sampled for `seconds`
    from the run's snapshots (the main thread of each; a backend that cannot see syscalls adds nothing)."""
    seen: Counter = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for proc in run.snapshot().processes:
            if proc.syscall is not None:
                seen[proc.syscall[0]] += 1
        time.sleep(interval)
    return seen


def unobserved(what: str) -> BehaviourFailed:
    return BehaviourFailed(
        _("the grader could not observe your program at run time"),
        expected=_("the grader's observer reporting from inside the program until it is stopped"),
        observed=what, reason="unobserved")


def require_observed(run, ev: Evidence) -> None:
    if not ev.hello:
        raise unobserved(_("its observer never reported (the program did not start Python normally, or "
                           "stderr was closed before it ran)"))
    if channel_cut(run, ev):
        raise unobserved(_("the observer's channel (fd {fd}) was closed or replaced while the program "
                           "ran: a run that silences the grader counts as not observed").format(fd=ev.channel_fd))


def require_none_forbidden(ctx, forbidden: list[str], matches, sample_seconds: float = 0.5) -> None:
    """Fail when the running program used a forbidden module: imported by its own code, a watched call,
    or (for select/selectors) a thread seen waiting in select/poll/epoll."""
    run = ctx.server
    waits = sample_waits(run, sample_seconds) if any(m in READINESS_MODULES for m in forbidden) else Counter()
    ev = gather(run, ctx.evidence_nonce)
    require_observed(run, ev)
    for mod, where in ev.imports:
        if matches(mod, forbidden):
            raise _forbidden(ctx, _("imported {module} at run time ({where})").format(module=f"`{mod}`", where=where),
                             forbidden)
    for name, where in ev.calls:
        if matches(name.partition(".")[0], forbidden):
            raise _forbidden(ctx, _("called {call} at run time ({where})").format(call=f"`{name}()`", where=where),
                             forbidden)
    bad = {name: n for name, n in waits.items() if name in READINESS_WAITS}
    if bad:
        name, n = max(bad.items(), key=lambda kv: kv[1])
        raise _forbidden(ctx, _("waited in {call}() at run time ({n} of {total} samples of its threads, from "
                                "/proc)").format(call=name, n=n, total=sum(waits.values())), forbidden)
    ctx.log(_("run time: no forbidden module used (observer reported; {n} wait samples)").format(
        n=sum(waits.values())))


def _forbidden(ctx, what: str, forbidden: list[str]) -> BehaviourFailed:
    return BehaviourFailed(_("the program {what}, which this assignment forbids").format(what=what),
                           expected=_("no use of {modules}, also not hidden from the source").format(
                               modules=", ".join(forbidden)),
                           observed=_("{what} (seen by the grader while the program ran)").format(what=what),
                           reason="structure")


def require_greenlets(ctx, at_least: int, drain_seconds: float = 3.0) -> None:
    run = ctx.server
    ev = gather(run, ctx.evidence_nonce)
    deadline = time.monotonic() + drain_seconds
    # a record written just before the reply the client saw may still be in the pipe: let the drain catch up
    while ev.greenlets < at_least and time.monotonic() < deadline and not run.stderr.closed.is_set():
        time.sleep(0.05)
        ev = gather(run, ctx.evidence_nonce)
    require_observed(run, ev)
    if ev.greenlets < at_least:
        raise BehaviourFailed(
            _("no work ran in greenlets at run time: {n} greenlet(s) ran").format(n=ev.greenlets),
            expected=_("at least {n} greenlets (gevent.spawn, a Pool or StreamServer) switched to while "
                       "the program ran").format(n=at_least),
            observed=_("{n} greenlet(s) other than the main one and gevent's hub ran (seen by the "
                       "grader's greenlet tracer); code that is never executed does not count").format(n=ev.greenlets),
            reason="structure")
    ctx.log(_("run time: {n}+ greenlets ran").format(n=ev.greenlets))
