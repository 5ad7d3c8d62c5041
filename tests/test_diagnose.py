"""grader.behaviour.diagnose: a `why` line only when it explains (scripted snapshots, no process)."""

from __future__ import annotations

from grader.behaviour import diagnose
from grader.failure import BehaviourFailed
from tests.fakes import server_snapshot


class StuckRun:
    """A run whose every snapshot is the same: a server on fd 3 with one connection on fd 4."""

    def __init__(self, syscall, listener_nonblocking: bool = True, conn_nonblocking: bool = False) -> None:
        self.snap = server_snapshot(conns=("ESTABLISHED",), syscall=syscall,
                                    nonblocking=(listener_nonblocking, conn_nonblocking))

    def snapshot(self):
        return self.snap


NO_REPLY = BehaviourFailed("client1 got no reply", reason="no_reply")
NO_CONNECT = BehaviourFailed("client8 could not connect", reason="no_connect")


def test_an_event_loop_waiting_explains_nothing():
    assert diagnose.explain_stuck(StuckRun(("epoll_wait", (3, 0, 0))), NO_REPLY) == ""


def test_a_sleep_when_the_reply_was_due_is_said():
    assert "sleeping when the reply was due" in diagnose.explain_stuck(StuckRun(("clock_nanosleep", (0, 0))),
                                                                      NO_REPLY)


def test_a_blocking_accepted_socket_gets_the_windows_note():
    run = StuckRun(("recvfrom", (4, 0, 0)), listener_nonblocking=True)
    why = diagnose.explain_stuck(run, NO_REPLY)
    assert "blocked in recvfrom() on a connection socket (fd 4" in why
    assert "conn.setblocking(False)" in why
    assert diagnose.accepted_socket_blocking(run) is True


def test_a_connect_failure_explains_the_backlog():
    run = StuckRun(("recvfrom", (4, 0, 0)), listener_nonblocking=False)
    why = diagnose.explain_stuck(run, NO_CONNECT)
    assert "listen() backlog" in why
    assert "blocking recv() waits for that one client" in why
    assert diagnose.accepted_socket_blocking(run) is False  # a blocking listener: not the Windows case


def test_a_server_waiting_elsewhere_than_a_socket_is_not_the_windows_case():
    assert diagnose.accepted_socket_blocking(StuckRun(("clock_nanosleep", (0, 0)))) is False
