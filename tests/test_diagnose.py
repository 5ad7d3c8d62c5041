"""grader.diagnose: a `why` line only when it explains (scripted /proc answers, no process)."""

from __future__ import annotations

import pytest

from grader import diagnose
from grader.failure import BehaviourFailed


class StuckRun:
    def main_pid(self) -> int:
        return 4242


def scripted(monkeypatch: pytest.MonkeyPatch, syscall: tuple[str, list[int]], where: str,
             nonblocking: dict[int, bool], listeners: list[int]) -> None:
    monkeypatch.setattr(diagnose, "where_stuck", lambda pid: where)
    monkeypatch.setattr(diagnose, "current_syscall", lambda pid: syscall)
    monkeypatch.setattr(diagnose, "is_nonblocking", lambda pid, fd: nonblocking.get(fd))

    class Listen:
        state = "LISTEN"

    monkeypatch.setattr(diagnose, "owned_sockets", lambda pids: [(4242, fd, Listen()) for fd in listeners])
    monkeypatch.setattr(diagnose, "_cpu", lambda pid: 0.0)


NO_REPLY = BehaviourFailed("client1 got no reply", reason="no_reply")
NO_CONNECT = BehaviourFailed("client8 could not connect", reason="no_connect")


def test_an_event_loop_waiting_explains_nothing(monkeypatch):
    scripted(monkeypatch, ("epoll_wait", [3, 0, 0]), "waiting in epoll_wait() (an event loop waiting for "
             "readiness)", {}, [])
    assert diagnose.explain_stuck(StuckRun(), NO_REPLY) == ""


def test_a_sleep_when_the_reply_was_due_is_said(monkeypatch):
    scripted(monkeypatch, ("clock_nanosleep", [0, 0]), "sleeping in clock_nanosleep()", {}, [])
    assert "sleeping when the reply was due" in diagnose.explain_stuck(StuckRun(), NO_REPLY)


def test_a_blocking_accepted_socket_gets_the_windows_note(monkeypatch):
    scripted(monkeypatch, ("recvfrom", [4, 0, 0]), "blocked in recvfrom() on a connection socket (fd 4)",
             {3: True, 4: False}, [3])
    why = diagnose.explain_stuck(StuckRun(), NO_REPLY)
    assert "conn.setblocking(False)" in why
    assert diagnose.accepted_socket_blocking(StuckRun()) is True


def test_a_connect_failure_explains_the_backlog(monkeypatch):
    scripted(monkeypatch, ("recvfrom", [4, 0, 0]), "blocked in recvfrom() on a connection socket (fd 4)",
             {3: False, 4: False}, [3])
    why = diagnose.explain_stuck(StuckRun(), NO_CONNECT)
    assert "listen() backlog" in why
    assert "blocking recv() waits for that one client" in why
    assert diagnose.accepted_socket_blocking(StuckRun()) is False  # a blocking listener: not the Windows case
