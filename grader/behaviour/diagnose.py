"""Explain *why* a server stopped answering, from what /proc says about it at the moment of failure."""

from __future__ import annotations

import time

from grader.failure import BehaviourFailed
from grader.i18n import N_, _
from grader.sandbox import RunView
from grader.sandbox.types import READINESS_SYSCALLS

WINDOWS_NOTE = N_(
    "On Linux a socket returned by accept() is in blocking mode even when the listening socket is nonblocking "
    "(on Windows it inherits nonblocking mode, which is why this may work on your machine). So the first recv() "
    "on a client that has not sent anything blocks the whole server. Fix: call conn.setblocking(False) on every "
    "accepted socket, right after accept()."
)


def explain_stuck(run: RunView, failure: BehaviourFailed) -> str:
    """A sentence or two on where the server sits; empty if it is not blocked anywhere telling."""
    try:
        snap = run.snapshot()
    except Exception:  # noqa: BLE001 - an observer that died: the failure speaks for itself
        return ""
    main = snap.main
    if main is None:
        return ""
    # A busy server is 'running'; a blocked one sits in a syscall. Sample a few times to catch the block.
    where = None
    cpu0 = main.cpu_seconds
    for _attempt in range(5):
        where = snap.where_stuck()
        if where:
            break
        time.sleep(0.02)
        snap = run.snapshot()
        if snap.main is None or snap.main.pid != main.pid:
            return ""  # it died meanwhile: the crash speaks for itself
    if snap.main is None:
        return ""
    main = snap.main
    if where is None:
        busy = main.cpu_seconds - cpu0
        if busy > 0.05:
            return _("The server was running on the CPU (busy in a loop) when the reply was due, "
                     "instead of waiting for input.")
        return ""
    lines = [_("The server's main thread is {where}.").format(where=where)]
    sc = main.syscall
    if failure.reason == "no_connect":
        lines.append(_("It was not accepting new connections: once as many clients as its listen() backlog "
                       "allows are waiting to be accepted, the next ones cannot connect."))
    if sc and sc[0] in ("recvfrom", "read", "recvmsg") and snap.nonblocking(main.pid, sc[1][0]) is False:
        listeners = [s for s in snap.in_state("LISTEN") if s.pid == main.pid]
        listener_nb = any(snap.nonblocking(s.pid, s.fd) for s in listeners)
        if listener_nb:
            lines.append(_(WINDOWS_NOTE))
        else:
            lines.append(_("A blocking recv() waits for that one client and nobody else is served meanwhile; "
                           "serve every client through readiness (select/poll/epoll), nonblocking sockets, "
                           "greenlets or threads."))
    elif sc and sc[0] in ("accept", "accept4") and snap.nonblocking(main.pid, sc[1][0]) is False:
        lines.append(_("A blocking accept() waits for a new client while the connected ones wait for replies."))
    elif sc and sc[0] in ("nanosleep", "clock_nanosleep"):
        lines.append(_("It was sleeping when the reply was due: a sleep in the serving loop delays every client."))
    if len(lines) == 1 and sc and sc[0] in READINESS_SYSCALLS:
        return ""  # "waiting in epoll_wait()" alone explains nothing: an idle event loop looks just like that
    return " ".join(lines)


def accepted_socket_blocking(run: RunView) -> bool:
    """The root cause concurrent_clients/uses_nonblocking judge, seen at the moment of a failure: the main
    thread sits in recv() on an accepted connection in blocking mode while the listener is nonblocking (the
    Linux/Windows difference of accept()). A blocking socket that is not what the server waits on is not it."""
    try:
        snap = run.snapshot()
    except Exception:  # noqa: BLE001 - an observer that died: no diagnosis
        return False
    main = snap.main
    sc = main.syscall if main else None
    if main is None or not sc or sc[0] not in ("recvfrom", "read", "recvmsg") or not sc[1]:
        return False
    if snap.nonblocking(main.pid, sc[1][0]) is not False:
        return False
    return any(snap.nonblocking(s.pid, s.fd) for s in snap.in_state("LISTEN") if s.pid == main.pid)
