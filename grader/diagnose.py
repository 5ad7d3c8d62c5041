"""Explain *why* a server stopped answering, from what /proc says about it at the moment of failure."""

from __future__ import annotations

import time

from grader.failure import BehaviourFailed
from grader.sandbox import Run

WINDOWS_NOTE = (
    "On Linux a socket returned by accept() is in blocking mode even when the listening socket is nonblocking "
    "(on Windows it inherits nonblocking mode, which is why this may work on your machine). So the first recv() "
    "on a client that has not sent anything blocks the whole server. Fix: call conn.setblocking(False) on every "
    "accepted socket, right after accept()."
)


def explain_stuck(run: Run, failure: BehaviourFailed) -> str:
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
    for _ in range(5):
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
            return ("The server was running on the CPU (busy in a loop) when the reply was due, "
                    "instead of waiting for input.")
        return ""
    lines = [f"The server's main thread is {where}."]
    sc = main.syscall
    if sc and sc[0] in ("recvfrom", "read", "recvmsg") and snap.nonblocking(main.pid, sc[1][0]) is False:
        listeners = [s for s in snap.in_state("LISTEN") if s.pid == main.pid]
        listener_nb = any(snap.nonblocking(s.pid, s.fd) for s in listeners)
        if listener_nb:
            lines.append(WINDOWS_NOTE)
        else:
            lines.append("A blocking recv() waits for that one client and nobody else is served meanwhile; "
                         "serve every client through readiness (select/poll/epoll), nonblocking sockets, "
                         "greenlets or threads.")
    elif sc and sc[0] in ("accept", "accept4") and snap.nonblocking(main.pid, sc[1][0]) is False:
        lines.append("A blocking accept() waits for a new client while the connected ones wait for replies.")
    return " ".join(lines)
