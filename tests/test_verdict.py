"""grader.verdict: each precedence rule on plain data (no run, no process), milliseconds each."""

from __future__ import annotations

import pytest

from grader.spec import Behaviour, Spec
from grader.verdict import Failure, Outcome, RunFacts, crash_of, verdict

ABRUPT = Behaviour(id="abrupt_disconnect", check="abrupt_disconnect", points=2,
                   hint="recv() raises ConnectionResetError when a client resets; catch it.")
SERVER = Spec(title="t", entry="server.py", kind="server", behaviours=[ABRUPT])
SCRIPT = Spec(title="t", entry="main.py", kind="script",
              behaviours=[Behaviour(id="runs", check="runs", points=1, hint="run it yourself")])

RESET_TB = """Traceback (most recent call last):
  File "/submission/server.py", line 24, in <module>
    s.send(data.upper())
ConnectionResetError: [Errno 104] Connection reset by peer
"""
KEYERROR_TB = """Traceback (most recent call last):
  File "/submission/server.py", line 30, in <module>
    del clients[s]
        ~~~~~~~^^^
KeyError: <socket.socket fd=5>
"""
DIED = Failure("the server died after a client reset its connection while idle",
               expected="the server keeps running", observed="the server process exited with code 1",
               reason="crashed")
NO_REPLY = Failure("stayer got no reply", expected="32 B", observed="0 B", reason="no_reply")


def dead(stderr: str = "", limits: dict | None = None, code: int = 1) -> RunFacts:
    return RunFacts(exit_code=code, alive=False, stderr=stderr, stderr_tail=stderr, limit_hits=limits or {})


def test_no_failure_passes_with_full_points():
    r = verdict(SERVER, ABRUPT, Outcome(run=RunFacts(exit_code=None, alive=True)))
    assert (r.status, r.score, r.reason) == ("passed", 2, "")


def test_harness_error_beats_everything():
    out = Outcome(failure=NO_REPLY, harness_error="the sandbox left processes alive after teardown: [7]",
                  run=dead(RESET_TB, {"memory": "the server used more than 256 MiB"}))
    r = verdict(SERVER, ABRUPT, out)
    assert (r.status, r.reason, r.score) == ("error", "harness", 0.0)
    assert "not your fault" in r.summary
    assert "left processes alive" in r.observed


def test_a_limit_beats_a_crash():
    out = Outcome(failure=NO_REPLY, run=dead(RESET_TB, {"memory": "the server used more than 256 MiB"}))
    r = verdict(SERVER, ABRUPT, out)
    assert (r.status, r.reason) == ("failed", "memory")
    assert r.summary == "the server used more than 256 MiB: stayer got no reply"
    assert r.evidence["limits"] == {"memory": "the server used more than 256 MiB"}


def test_a_limit_alone_fails_a_crashed_run():
    r = verdict(SERVER, ABRUPT, Outcome(run=dead("", {"processes": "more than 64 processes"})))
    assert (r.status, r.reason) == ("failed", "processes")
    assert r.summary.startswith("more than 64 processes: ")


def test_a_crash_beats_what_the_client_saw():
    r = verdict(SERVER, ABRUPT, Outcome(failure=NO_REPLY, run=dead(RESET_TB)))
    assert (r.status, r.reason) == ("failed", "crashed")
    assert r.summary == "the server crashed (ConnectionResetError at line 24): stayer got no reply"
    assert "exited with code 1" in r.diagnosis
    assert r.hint == ABRUPT.hint  # the reset hit the send(): the reset hint is the right one


def test_a_reset_in_a_socket_call_is_blamed_on_the_reset():
    r = verdict(SERVER, ABRUPT, Outcome(failure=DIED, run=dead(RESET_TB)))
    assert r.summary == DIED.summary + " (ConnectionResetError at line 24)"
    assert r.hint == ABRUPT.hint


def test_a_keyerror_is_named_as_itself_not_as_a_reset():
    r = verdict(SERVER, ABRUPT, Outcome(failure=DIED, run=dead(KEYERROR_TB)))
    assert r.summary == "the server crashed with KeyError at line 30: del clients[s]"
    assert "reset" in r.observed  # the step it happened in is context, not the headline
    assert "ConnectionResetError" not in r.hint
    assert "KeyError" in r.hint


def test_preflight_failure_drops_the_behaviours_hint():
    pre = Failure("server.py does not parse", observed="SyntaxError at line 3", reason="syntax_error")
    r = verdict(SERVER, ABRUPT, Outcome(failure=pre))
    assert (r.status, r.reason, r.hint) == ("failed", "syntax_error", "")


def test_an_ordinary_failure_keeps_its_reason_and_hint():
    r = verdict(SERVER, ABRUPT, Outcome(failure=NO_REPLY, diagnosis="blocked in recvfrom()",
                                        run=RunFacts(exit_code=None, alive=True)))
    assert (r.reason, r.summary, r.hint, r.diagnosis) == ("no_reply", "stayer got no reply", ABRUPT.hint,
                                                          "blocked in recvfrom()")


@pytest.mark.parametrize(("code", "crashed"), [(0, False), (1, True), (137, False), (None, False)])
def test_a_script_crashes_only_on_a_nonzero_exit_of_its_own(code, crashed):
    f = Failure("1 expected line(s) never printed", reason="output")
    r = verdict(SCRIPT, SCRIPT.behaviours[0], Outcome(failure=f, run=RunFacts(exit_code=code, alive=False)))
    assert (r.reason == "crashed") is crashed


def test_crash_of_reads_the_last_own_frame():
    tb = RESET_TB.replace('  File "/submission/server.py", line 24, in <module>\n    s.send(data.upper())\n',
                          '  File "/submission/server.py", line 24, in <module>\n    s.send(data.upper())\n'
                          '  File "/usr/lib/python3.11/socket.py", line 9, in send\n    x\n')
    crash = crash_of(tb)
    assert crash is not None
    assert (crash.exception, crash.line, crash.from_a_reset) == ("ConnectionResetError", 24, True)
    assert crash_of("just some output\n") is None


def test_crash_of_finds_the_exception_before_a_trailing_log_line():
    tb = KEYERROR_TB + "2026-11-29T09:57:11Z <Greenlet at 0x7f: worker(5)> failed with KeyError\n"
    crash = crash_of(tb)
    assert crash is not None
    assert (crash.exception, crash.line, crash.source) == ("KeyError", 30, "del clients[s]")


def test_a_server_gone_when_the_check_failed_crashed_whatever_teardown_read():
    # the sandbox had not reaped it yet: teardown's SIGKILL shows as 137, yet the server had died by itself
    run = RunFacts(exit_code=137, alive=False, died=True, stderr=RESET_TB, stderr_tail=RESET_TB)
    r = verdict(SERVER, ABRUPT, Outcome(failure=NO_REPLY, run=run))
    assert r.reason == "crashed"
    assert "ConnectionResetError at line 24" in r.summary
    assert "exited by itself" in r.diagnosis


WRONG_PORT = Failure("the server listens on 127.0.0.1:9001 instead of 127.0.0.1:9000", reason="wrong_address",
                     evidence={"stage": "start"})


def test_a_failure_at_start_is_reported_once_and_the_others_are_not_graded():
    owner = verdict(SERVER, ABRUPT, Outcome(failure=WRONG_PORT, start_owner="abrupt_disconnect",
                                            run=RunFacts(exit_code=None, alive=True)))
    assert (owner.reason, owner.summary, owner.hint) == ("wrong_address", WRONG_PORT.summary, "")
    other = verdict(SERVER, ABRUPT, Outcome(failure=WRONG_PORT, start_owner="echo",
                                            run=RunFacts(exit_code=None, alive=True)))
    assert (other.status, other.reason) == ("failed", "blocked_by")
    assert other.summary == f"not graded: {WRONG_PORT.summary} (see echo)"
    assert other.evidence["blocked_by"] == "echo"


def test_a_regraded_behaviour_says_how_it_was_graded():
    note = "graded with accepted sockets made nonblocking (as on Windows), since concurrent_clients already fails"
    passed = verdict(SERVER, ABRUPT, Outcome(graded_with=note, run=RunFacts(exit_code=None, alive=True)))
    assert (passed.status, passed.summary, passed.evidence["graded_with"]) == ("passed", note, note)
    failed = verdict(SERVER, ABRUPT, Outcome(failure=NO_REPLY, graded_with=note,
                                             run=RunFacts(exit_code=None, alive=True)))
    assert failed.summary == NO_REPLY.summary
    assert note in failed.diagnosis


# --- charge_once: one bug seen by several behaviours is charged to one (issue 18) ---------------------------
def _disconnects_spec() -> Spec:
    ids = ["echo", "graceful_disconnect", "abrupt_disconnect", "no_leaks"]
    return Spec(title="t", entry="server.py", kind="server",
                behaviours=[Behaviour(id=i, check=i, points=2, hint="h") for i in ids])


def _crashed(spec: Spec, bid: str, stderr: str) -> object:
    b = next(x for x in spec.behaviours if x.id == bid)
    return verdict(spec, b, Outcome(failure=Failure(f"{bid} step failed", reason="no_reply"),
                                    run=RunFacts(exit_code=1, alive=False, died=True, stderr=stderr)))


def test_the_same_crash_in_several_behaviours_is_charged_to_the_first():
    from grader.verdict import charge_once

    spec = _disconnects_spec()
    ok = verdict(spec, spec.behaviours[0], Outcome(run=RunFacts(exit_code=None, alive=True)))
    graceful, abrupt, leaks = (_crashed(spec, b, KEYERROR_TB) for b in
                               ("graceful_disconnect", "abrupt_disconnect", "no_leaks"))
    out = charge_once(spec, [ok, leaks, abrupt, graceful])  # any order in, the spec's order decides the owner
    assert [r.id for r in out] == ["echo", "no_leaks", "abrupt_disconnect", "graceful_disconnect"]
    assert graceful.reason == "crashed"
    assert "KeyError at line 30" in graceful.summary
    for r in (abrupt, leaks):
        assert (r.status, r.reason, r.score) == ("failed", "blocked_by", 0.0)
        assert r.evidence["blocked_by"] == "graceful_disconnect"
        assert r.summary.startswith("not graded: the server crashed with KeyError at line 30")
        assert r.summary.endswith("(see graceful_disconnect)")
    assert ok.status == "passed"


def test_different_crashes_are_each_charged():
    from grader.verdict import charge_once

    spec = _disconnects_spec()
    graceful = _crashed(spec, "graceful_disconnect", KEYERROR_TB)
    abrupt = _crashed(spec, "abrupt_disconnect", RESET_TB)
    charge_once(spec, [graceful, abrupt])
    assert abrupt.reason == "crashed"
    assert "blocked_by" not in abrupt.evidence


def test_a_connection_closed_after_replying_is_charged_to_echo():
    from grader.verdict import charge_once

    spec = _disconnects_spec()
    closed = {"closed_after_replies": 1}
    echo, graceful = (verdict(spec, b, Outcome(failure=Failure("x got no reply", reason="server_closed",
                                                                 evidence=closed),
                                                 run=RunFacts(exit_code=None, alive=True)))
                      for b in spec.behaviours[:2])
    other = verdict(spec, spec.behaviours[2], Outcome(failure=NO_REPLY, run=RunFacts(exit_code=None, alive=True)))
    charge_once(spec, [echo, graceful, other])
    assert echo.reason == "server_closed"
    assert graceful.reason == "blocked_by"
    assert graceful.summary.endswith("(see echo)")
    assert other.reason == "no_reply"  # a different failure is its own
