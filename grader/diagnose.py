"""Explain *why* a server stopped answering, from what /proc says about it at the moment of failure."""

from __future__ import annotations

import time

from grader.checks.failure import BehaviourFailed
from grader.sandbox import Run
from grader.sandbox.procfs import current_syscall, is_nonblocking, owned_sockets, where_stuck

WINDOWS_NOTE = (
    "On Linux a socket returned by accept() is in blocking mode even when the listening socket is nonblocking "
    "(on Windows it inherits nonblocking mode, which is why this may work on your machine). So the first recv() "
    "on a client that has not sent anything blocks the whole server. Fix: call conn.setblocking(False) on every "
    "accepted socket, right after accept()."
)


def explain_stuck(run: Run, failure: BehaviourFailed) -> str:
    """A sentence or two on where the server sits; empty if it is not blocked anywhere telling."""
    pid = run.main_pid()
    if pid is None:
        return ""
    # A busy server is 'running'; a blocked one sits in a syscall. Sample a few times to catch the block.
    where = None
    for _ in range(5):
        where = where_stuck(pid)
        if where:
            break
        time.sleep(0.02)
    if where is None:
        return "the server was running (busy on the CPU) when the reply was due, not waiting for input"
    lines = [f"The server's main thread is {where}."]
    sc = current_syscall(pid)
    if sc and sc[0] in ("recvfrom", "read", "recvmsg") and is_nonblocking(pid, sc[1][0]) is False:
        listeners = [(p, fd) for p, fd, s in owned_sockets([pid]) if s.state == "LISTEN"]
        listener_nb = any(is_nonblocking(p, fd) for p, fd in listeners)
        if listener_nb:
            lines.append(WINDOWS_NOTE)
        else:
            lines.append("A blocking recv() waits for that one client and nobody else is served meanwhile; "
                         "serve every client through readiness (select/poll/epoll), nonblocking sockets, "
                         "greenlets or threads.")
    elif sc and sc[0] in ("accept", "accept4") and is_nonblocking(pid, sc[1][0]) is False:
        lines.append("A blocking accept() waits for a new client while the connected ones wait for replies.")
    return " ".join(lines)
