"""Observations of the process tree under load: threads, child processes."""

from __future__ import annotations

import time

from grader.checks.registry import BehaviourFailed, check
from grader.checks.static import Imports, parse
from grader.failure import NotObservable
from grader.harness.client import Client
from grader.harness.context import Context
from grader.harness.evidence import matches, require_none_forbidden, stopped_by_kernel
from grader.i18n import _
from grader.spec.params import NonblockingParams, ThreadParams


@check("single_thread")
def single_thread(ctx: Context, p: ThreadParams) -> None:
    """While serving several clients, the server is one process with one thread (observed, not asked)."""
    ctx.start()
    clients: list[Client] = []
    for i in range(p.clients):
        # Load for the observation, not a judgement: a server that stops accepting (a listen(5) backlog full
        # while it blocks in recv) is judged by concurrent_clients; its structure is observed with those
        # that got in. Failing here made the verdict depend on how fast the server accepted ("client8
        # could not connect").
        c = ctx.client(f"client{i + 1}", p.reply_timeout, connect=False)
        try:
            c.connect()
        except BehaviourFailed:
            ctx.log(_("{client} could not connect (not judged here); observing with {n} client(s)").format(
                client=c.name, n=len(clients)))
            break
        clients.append(c)
    worst_threads, worst_procs = 0, 0

    def observe(when: str) -> None:
        nonlocal worst_threads, worst_procs
        snap = ctx.snapshot()
        procs, threads = snap.processes, snap.max_threads()
        worst_threads, worst_procs = max(worst_threads, threads), max(worst_procs, len(procs))
        ctx.log(_("{when}: {procs} process(es), at most {threads} thread(s) in one").format(
            when=when, procs=len(procs), threads=threads))

    observe(_("with all clients connected"))
    for c in clients:  # everybody talks at once; replies are other behaviours' business
        c.send(ctx.payload(16))
    observe(_("with all clients talking"))
    deadline = time.monotonic() + p.reply_timeout
    for c in clients:
        c.receive(16, max(0.05, deadline - time.monotonic()))
    observe(_("after the replies were due"))
    if worst_procs > p.max_processes:
        raise BehaviourFailed(
            _("the server started child processes: {n} processes observed").format(n=worst_procs),
            expected=_("at most {n} process(es) (one event loop, no fork/multiprocessing)").format(n=p.max_processes),
            observed=_("{n} processes while serving {clients} clients").format(n=worst_procs, clients=len(clients)),
            reason="structure")
    if worst_threads > p.max_threads:
        raise BehaviourFailed(
            _("the server uses threads: {n} threads observed").format(n=worst_threads),
            expected=_("at most {n} thread(s): one thread serving every client through readiness").format(
                n=p.max_threads),
            observed=_("{n} threads while serving {clients} clients").format(n=worst_threads, clients=len(clients)),
            reason="structure")



@check("nonblocking_sockets")
def nonblocking_sockets(ctx: Context, p: NonblockingParams) -> None:
    """The listening socket and every accepted connection are in nonblocking mode (O_NONBLOCK, from /proc);
    a forbidden readiness system call, by any route, stops the program (the kernel's seccomp filter)."""
    try:
        _nonblocking_sockets(ctx, p)
    except BehaviourFailed:
        killed = stopped_by_kernel(ctx, p.forbidden_imports) if ctx.runs else None
        if killed:
            raise killed from None
        raise


def _nonblocking_sockets(ctx: Context, p: NonblockingParams) -> None:
    tree = parse(ctx)
    for mod, line in Imports(tree).modules:
        if matches(mod, p.forbidden_imports):
            raise BehaviourFailed(
                _("{entry} imports {module}, which this assignment forbids").format(entry=ctx.spec.entry, module=mod),
                expected=p.requirement or _("no import of {modules}").format(modules=", ".join(p.forbidden_imports)),
                observed=_("line {line}: import of {module}").format(line=line, module=mod), reason="structure")
    ctx.start()
    for i in range(p.clients):
        ctx.client(f"silent{i + 1}")
    time.sleep(p.settle)
    ctx.require_alive(_("with silent clients connected"))
    snap = ctx.snapshot()
    if snap.sockets is None or (snap.sockets and all(snap.nonblocking(s.pid, s.fd) is None for s in snap.sockets)):
        raise NotObservable(_("the O_NONBLOCK flag of the server's sockets"),
                            _("not visible to the {observer} observer").format(observer=ctx.server.observer_name))
    blocking = []
    accepted = 0
    for s in snap.sockets:
        fd = s.fd
        kind = "listening socket" if s.state == "LISTEN" else "accepted connection"
        accepted += kind == "accepted connection"
        mode = snap.nonblocking(s.pid, fd)
        ctx.log(f"fd {fd}: {_kind(kind)} {s.local[0]}:{s.local[1]}"
                + ("" if s.state == "LISTEN" else f" <- {s.remote[0]}:{s.remote[1]}")
                + ", " + (_("nonblocking") if mode else _("blocking")))
        if mode is False:
            blocking.append((fd, kind))
    if blocking:
        listener_blocking = any(k == "listening socket" for _, k in blocking)
        why = (_("the listening socket is blocking: call sk.setblocking(False) after listen()") if listener_blocking
               else _("on Linux an accepted socket does not inherit the listener's nonblocking mode (on Windows it "
                      "does): call conn.setblocking(False) right after accept()"))
        raise BehaviourFailed(
            _("{n} socket(s) in blocking mode: {sockets}").format(
                n=len(blocking), sockets=", ".join(f"fd {fd} ({_kind(k)})" for fd, k in blocking)),
            expected=_("the listener and every accepted connection in nonblocking mode"),
            observed=why, reason="blocking_socket")
    if accepted == 0:
        raise BehaviourFailed(
            _("the server had not accepted any of the connected clients"),
            expected=_("{n} accepted connections within {seconds} s").format(n=p.clients, seconds=f"{p.settle:.1f}"),
            observed=_("only the listening socket is open"), reason="no_accept")
    require_none_forbidden(ctx, p.forbidden_imports)  # hidden from the AST is not hidden at run time


def _kind(kind: str) -> str:
    return _("listening socket") if kind == "listening socket" else _("accepted connection")
