"""Runtime evidence for the uses_* checks, beside the AST: what the program really did while it ran.

Two sources, both the grader's own observations (never what the student's program prints):
* the grader's observer inside the run (grader/sandbox/standalone/site/sitecustomize.py): modules the program's own code
  imported, watched functions it called, greenlets that ran; its records come over its own channel (a
  duplicate of the stderr pipe) under the run's nonce, and are taken out of stderr by the drain thread;
* the run's snapshots, sampled from outside: the system calls the program's processes wait in.

A run whose observer never said hello, or whose channel was closed or replaced, was not observed: that is
a failure ("could not observe"), never a pass.
"""

from __future__ import annotations

import fnmatch
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grader.failure import BehaviourFailed
from grader.i18n import _
from grader.sandbox.types import READINESS_SYSCALLS, RunView

if TYPE_CHECKING:
    from grader.harness.context import Context

# modules whose use shows as a wait in one of READINESS_SYSCALLS, and the calls the observer watches for them
READINESS_MODULES = {"select": ("select.select", "select.poll", "select.epoll"),
                     "selectors": ("select.select", "select.poll", "select.epoll")}


def matches(name: str, patterns: list[str]) -> bool:
    """`name` (a dotted module or call name) is one of `patterns` (fnmatch wildcards) or inside one of them."""
    return any(fnmatch.fnmatchcase(name, pat) or name.startswith(pat + ".") for pat in patterns)


@dataclass
class Evidence:
    hello: bool = False
    channel_fd: int | None = None
    imports: list[tuple[str, str]] = field(default_factory=list)  # (module, 'file:line')
    calls: list[tuple[str, str]] = field(default_factory=list)  # (dotted name, 'file:line')
    greenlets: int = 0
    seccomp: str = ""  # "on": readiness system calls kill the program (the kernel's filter); "off WHY"; "" not asked


def observer_env(nonce: str, forbidden_modules: list[str], trace_greenlets: bool) -> dict[str, str]:
    """What the run's environment tells the observer to watch."""
    env = {"GRADER_EVIDENCE": nonce}
    if forbidden_modules:
        env["GRADER_WATCH_MODULES"] = ",".join(forbidden_modules)
        calls = sorted({c for m in forbidden_modules for c in READINESS_MODULES.get(m, ())})
        if calls:
            env["GRADER_WATCH_CALLS"] = ",".join(calls)
            env["GRADER_FORBID_READINESS"] = "1"  # and the kernel stops any readiness syscall, by any route
    if trace_greenlets:
        env["GRADER_TRACE_GREENLETS"] = "1"
    return env


def gather(run: RunView, nonce: str, settle: float = 1.0) -> Evidence:
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
        elif kind == "seccomp":
            ev.seccomp = text
        elif kind == "greenlets" and parts[0].isdigit():
            ev.greenlets = max(ev.greenlets, int(parts[0]))
    return ev


def channel_cut(run: RunView, ev: Evidence) -> bool:
    """True when the observer's channel in the running program is no longer the stderr pipe the grader
    drains (closed, or replaced). False when it is intact, or cannot be checked (the program is gone, or its
    fds are not observable here): then only the records count."""
    inode = run.stderr.pipe_inode
    main = run.snapshot().main
    if main is None or not main.fds_listed or ev.channel_fd is None or inode is None:
        return False  # gone, or which fd is which is not observable here (psutil only counts them)
    entry = next((f for f in main.fds or () if f.fd == ev.channel_fd), None)
    if entry is None:  # closed, unless the process just exited
        return run.snapshot().main is not None
    return entry.pipe != inode


def sample_waits(run: RunView, seconds: float, interval: float = 0.02) -> Counter[str]:
    """How often the program's processes were seen waiting in each system call, sampled for `seconds`
    from the run's snapshots (the main thread of each; a backend that cannot see syscalls adds nothing)."""
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for proc in run.snapshot().processes:
            if proc.syscall is not None:
                seen[proc.syscall[0]] += 1
        time.sleep(interval)
    return seen


def sample_main_thread(run: RunView, seconds: float, interval: float = 0.02) -> Counter[str]:
    """What the main process's main thread was doing, sampled for `seconds` from the run's snapshots: the
    system call it waited in, `running` (on a CPU or runnable), or `unknown` (not readable here)."""
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        main = run.snapshot().main
        if main is None:
            break
        if main.syscall is not None:
            seen[main.syscall[0]] += 1
        else:
            seen["running" if main.runnable else "unknown"] += 1
        time.sleep(interval)
    return seen


def describe_waits(seen: Counter[str]) -> str:
    """`sleeping in clock_nanosleep() in 25 of 30 samples; running on a CPU in 5 of 30 samples` (most frequent
    first; samples that caught the thread between states are left out)."""
    total = sum(n for name, n in seen.items() if name != "unknown")  # a moment between two reads
    parts = []
    for name, n in seen.most_common():
        if name == "unknown":
            continue
        if name == "running":
            what = _("running on a CPU")
        elif name in ("nanosleep", "clock_nanosleep"):
            what = _("sleeping in {call}()").format(call=name)
        elif name == "futex":
            what = _("waiting on a lock (futex)")
        else:
            what = _("in {call}()").format(call=name)
        parts.append(_("{what} in {n} of {total} samples").format(what=what, n=n, total=total))
    return "; ".join(parts)


def unobserved(what: str) -> BehaviourFailed:
    return BehaviourFailed(
        _("the grader could not observe your program at run time"),
        expected=_("the grader's observer reporting from inside the program until it is stopped"),
        observed=what, reason="unobserved")


def require_observed(run: RunView, ev: Evidence) -> None:
    if not ev.hello:
        raise unobserved(_("its observer never reported (the program did not start Python normally, or "
                           "stderr was closed before it ran)"))
    if channel_cut(run, ev):
        raise unobserved(_("the observer's channel (fd {fd}) was closed or replaced while the program "
                           "ran: a run that silences the grader counts as not observed").format(fd=ev.channel_fd))


def require_none_forbidden(ctx: Context, forbidden: list[str], sample_seconds: float = 0.5) -> None:
    """Fail when the running program used a forbidden module: imported by its own code, a watched call,
    or (for select/selectors) a thread seen waiting in select/poll/epoll."""
    run = ctx.server
    waits = sample_waits(run, sample_seconds) if any(m in READINESS_MODULES for m in forbidden) else Counter()
    killed = stopped_by_kernel(ctx, forbidden)
    if killed:
        raise killed
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
    bad = {name: n for name, n in waits.items() if name in READINESS_SYSCALLS}
    if bad:
        name, n = max(bad.items(), key=lambda kv: kv[1])
        raise _forbidden(ctx, _("waited in {call}() at run time ({n} of {total} samples of its threads, from "
                                "/proc)").format(call=name, n=n, total=sum(waits.values())), forbidden)
    ctx.log(_("run time: no forbidden module used (observer reported; {n} wait samples)").format(
        n=sum(waits.values())))


SIGSYS = 31
SIGSYS_EXITS = (-SIGSYS, 128 + SIGSYS)  # killed by the signal: as the process's parent, or a sandbox's init, says


def stopped_by_kernel(ctx: Context, forbidden: list[str]) -> BehaviourFailed | None:
    """The failure to report when the run was killed by the grader's seccomp filter (SIGSYS, the filter on):
    the program made a readiness system call by some route the observer in the process did not see."""
    run = ctx.server
    if run.alive():
        return None
    deadline = time.monotonic() + 1.0  # gone, but perhaps not reaped yet (a sandbox's init reports it)
    while run.exit_code is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if run.exit_code not in SIGSYS_EXITS:
        return None
    ev = gather(run, ctx.evidence_nonce, settle=0.2)
    if ev.seccomp != "on":
        return None
    stopped = _("; then the kernel stopped it at its first readiness system call (SIGSYS, exit code {code})").format(
        code=run.exit_code)
    for mod, where in ev.imports:  # what the observer saw first names the student's line
        if matches(mod, forbidden):
            what = _("imported `{module}` at run time ({where})").format(module=mod, where=where)
            failure = _forbidden(ctx, what, forbidden)
            failure.observed += stopped
            failure.reason = "forbidden_syscall"  # the death is the grader's doing: not "the server crashed"
            return failure
    for name, where in ev.calls:
        if matches(name.partition(".")[0], forbidden):
            what = _("called `{name}()` at run time ({where})").format(name=name, where=where)
            failure = _forbidden(ctx, what, forbidden)
            failure.observed += stopped
            failure.reason = "forbidden_syscall"
            return failure
    what = _("made a select/poll/epoll system call, and the kernel stopped it there")
    return BehaviourFailed(
        _("the program {what}, which this assignment forbids").format(what=what),
        expected=_("no use of {mods}, by any route (also not through sys.modules, ctypes or a timeout of 0)")
        .format(mods=", ".join(forbidden)),
        observed=_("the process was killed by SIGSYS (exit code {code}): the grader's seccomp filter stops a "
                   "readiness system call (select, poll, epoll, io_uring) in this behaviour's run").format(
            code=run.exit_code),
        reason="forbidden_syscall", evidence={"exit_code": run.exit_code})


def _forbidden(ctx: Context, what: str, forbidden: list[str]) -> BehaviourFailed:
    return BehaviourFailed(_("the program {what}, which this assignment forbids").format(what=what),
                           expected=_("no use of {modules}, also not hidden from the source").format(
                               modules=", ".join(forbidden)),
                           observed=_("{what} (seen by the grader while the program ran)").format(what=what),
                           reason="structure")


def require_greenlets(ctx: Context, at_least: int, drain_seconds: float = 3.0, connections: int = 0,
                      serving: dict[str, Any] | None = None) -> None:
    """At least `at_least` greenlets ran (and, for a server with `connections` clients connected at once, at
    least one per connection), and the connections were served by the listening process, not by others."""
    run = ctx.server
    need = max(at_least, connections)
    children = (serving or {}).get("children") or {}
    if children:  # decided without waiting for greenlet records
        ev = gather(run, ctx.evidence_nonce)
        require_observed(run, ev)
        held = sum(children.values())
        raise BehaviourFailed(
            _("the connections were served by {k} other process(es), not in greenlets of the listening process; "
              "{g} greenlet(s) ran for {n} connections").format(k=len(children), g=ev.greenlets, n=connections),
            expected=_("every connection handled by a greenlet of the one process that listens (gevent.spawn, a "
                       "Pool or StreamServer), at least {n} greenlets for {n} clients connected at once").format(
                n=connections),
            observed=_("{held} of the {n} connection sockets were held by {k} child process(es) (a process per "
                       "connection: fork, ForkingTCPServer, multiprocessing); {g} greenlet(s) other than the main "
                       "one and gevent's hub ran").format(held=held, n=connections, k=len(children),
                                                          g=ev.greenlets),
            reason="structure", evidence={"greenlets": ev.greenlets, "serving_processes": len(children)})
    ev = gather(run, ctx.evidence_nonce)
    deadline = time.monotonic() + drain_seconds
    # a record written just before the reply the client saw may still be in the pipe: let the drain catch up
    while ev.greenlets < need and time.monotonic() < deadline and not run.stderr.closed.is_set():
        time.sleep(0.05)
        ev = gather(run, ctx.evidence_nonce)
    require_observed(run, ev)
    if ev.greenlets < need:
        if connections and ev.greenlets:
            summary = _("only {g} greenlet(s) ran for {n} clients connected at once: the connections are not "
                        "served one greenlet each").format(g=ev.greenlets, n=connections)
        else:
            summary = _("no work ran in greenlets at run time: {g} greenlet(s) ran").format(g=ev.greenlets)
        raise BehaviourFailed(
            summary,
            expected=_("at least {k} greenlets (gevent.spawn, a Pool or StreamServer) switched to while the program "
                       "ran{per}").format(k=need, per=_(", one per connection") if connections else ""),
            observed=_("{g} greenlet(s) other than the main one and gevent's hub ran (seen by the grader's greenlet "
                       "tracer); code that is never executed does not count").format(g=ev.greenlets),
            reason="structure", evidence={"greenlets": ev.greenlets})
    ctx.log(_("run time: {n}+ greenlets ran").format(n=ev.greenlets))
