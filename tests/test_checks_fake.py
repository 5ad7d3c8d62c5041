"""Each network/process check's pass and fail paths and its wording, through the fake sandbox (tests/fakes.py):
scripted snapshots, a Python function as the server, a fake clock for the checks' waits. Milliseconds each,
no root. The corpus (tests/test_corpus.py) proves that real sandboxes answer the same observations."""

from __future__ import annotations

import pytest

import grader.behaviour.diagnose
import grader.checks.network
import grader.checks.process
import grader.harness.context
import grader.harness.evidence
from grader.behaviour.engine import grade_behaviour
from grader.spec import Behaviour
from tests.conftest import COURSE, REPO, spec_of
from tests.fakes import FakeClock, FakeSandbox, lowercase_echo, server_snapshot, silent, upper_echo

SUBMISSION = REPO / "reference" / "select_server"


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The checks' sleeps and windows pass instantly; the clients' socket timeouts stay real."""
    fake = FakeClock()
    for module in (grader.checks.network, grader.checks.process, grader.harness.context, grader.behaviour.diagnose,
                   grader.harness.evidence):
        monkeypatch.setattr(module, "time", fake)
    return fake


def grade(check: str, sandbox: FakeSandbox, submission=SUBMISSION, **params):
    spec = spec_of("select_server")
    behaviour = Behaviour(id=check, check=check, params=params, points=2)
    spec = spec.model_copy(update={"behaviours": [behaviour]})
    return grade_behaviour(spec, behaviour, submission, COURSE, sandbox, seed=7)


def text(result) -> str:
    return " ".join([result.summary, result.expected, result.observed, result.diagnosis]).lower()


# --- echo and concurrency ------------------------------------------------------------------------------------
def test_echo_passes_an_upper_casing_server():
    r = grade("echo", FakeSandbox(upper_echo))
    assert (r.status, r.score) == ("passed", 2)


def test_echo_fails_a_server_that_does_not_upper_case():
    r = grade("echo", FakeSandbox(lowercase_echo))
    assert r.status == "failed"
    assert "upper-cased" in text(r)


def test_echo_fails_a_silent_server_with_no_reply():
    r = grade("echo", FakeSandbox(silent), reply_timeout=0.05, sizes=[5])
    assert (r.status, r.reason) == ("failed", "no_reply")
    assert "client1" in r.summary


def test_concurrent_clients_passes_a_server_serving_everyone():
    r = grade("concurrent_clients", FakeSandbox(upper_echo), active_clients=5, rounds=2)
    assert r.status == "passed"


def test_concurrent_clients_fails_a_silent_server():
    r = grade("concurrent_clients", FakeSandbox(silent), active_clients=2, rounds=1, reply_timeout=0.05)
    assert (r.status, r.reason) == ("failed", "no_reply")


@pytest.mark.parametrize("check", ["graceful_disconnect", "abrupt_disconnect"])
def test_disconnects_pass_a_correct_server(check):
    assert grade(check, FakeSandbox(upper_echo)).status == "passed"


@pytest.mark.parametrize("check", ["graceful_disconnect", "abrupt_disconnect"])
def test_disconnects_fail_a_server_that_stops_answering(check):
    r = grade(check, FakeSandbox(silent), reply_timeout=0.05)
    assert (r.status, r.reason) == ("failed", "no_reply")


def test_a_sandbox_that_can_no_longer_make_sockets_means_the_client_could_not_connect(monkeypatch):
    from tests.fakes import FakeRun

    def gone(self, family=0):
        raise OSError(101, "the submission's network namespace is gone")

    monkeypatch.setattr(FakeRun, "socket", gone)
    r = grade("echo", FakeSandbox(upper_echo))
    assert r.status == "failed"
    assert r.summary == "client1 could not connect"
    assert "network namespace is gone" in r.observed


# --- readiness ----------------------------------------------------------------------------------------------
def test_a_server_that_never_listens_fails_with_never_listened():
    sandbox = FakeSandbox(observe=lambda run: server_snapshot().__class__(server_snapshot().processes, ()))
    r = grade("echo", sandbox)
    assert (r.status, r.reason) == ("failed", "never_listened")
    assert "no listening socket on 127.0.0.1:9000" in r.observed


def _starting(clock, listens_after: float, cpu_per_second: float):
    """A server that sleeps at every snapshot (state S, as in page faults between imports) while its CPU time
    grows at `cpu_per_second`, and listens `listens_after` seconds after the first snapshot."""
    from tests.fakes import proc

    t0: list[float] = []

    def observe(run):
        t0[:] = t0 or [clock.now]
        elapsed = clock.now - t0[0]
        snap = server_snapshot()
        main = proc(100, fds=snap.processes[0].fds, run=elapsed * cpu_per_second, state="S")
        return snap.__class__((main,), snap.sockets if elapsed >= listens_after else ())

    return observe, t0


def test_a_server_still_starting_after_the_timeout_is_waited_for(clock):
    """Its CPU time grows (it is importing), though it sleeps at each look: not 'never listened'."""
    observe, _ = _starting(clock, listens_after=8.0, cpu_per_second=0.2)
    r = grade("echo", FakeSandbox(upper_echo, observe=observe))
    assert (r.status, r.score) == ("passed", 2)


def test_a_server_that_sleeps_without_listening_fails_at_the_timeout_not_later(clock):
    observe, t0 = _starting(clock, listens_after=1e9, cpu_per_second=0.0)
    r = grade("echo", FakeSandbox(upper_echo, observe=observe))
    assert (r.status, r.reason) == ("failed", "never_listened")
    timeout = COURSE.defaults.startup_timeout
    assert clock.now - t0[0] < timeout + 1.0  # the fake clock: no real time involved
    assert "used 0.00 s of CPU" in " ".join(e.text for e in r.transcript)


def test_a_server_still_busy_at_three_times_the_timeout_never_listened(clock):
    observe, t0 = _starting(clock, listens_after=1e9, cpu_per_second=0.5)
    r = grade("echo", FakeSandbox(upper_echo, observe=observe))
    assert (r.status, r.reason) == ("failed", "never_listened")
    assert clock.now - t0[0] >= 3 * COURSE.defaults.startup_timeout


def test_a_server_listening_elsewhere_is_told_where():
    from tests.fakes import sock

    def elsewhere(run):
        snap = server_snapshot()
        return snap.__class__(snap.processes, (sock(3, "LISTEN", port=9001),))

    r = grade("echo", FakeSandbox(observe=elsewhere))
    assert r.reason == "wrong_address"  # the headline, at once: not "never listened" after the timeout
    assert "the server listens on 127.0.0.1:9001 instead of 127.0.0.1:9000" in r.summary
    assert r.hint == ""


def test_a_server_that_exits_before_listening_crashed():
    r = grade("echo", FakeSandbox(exit_code=1, stderr=b"Traceback...\nNameError: x\n"))
    assert (r.status, r.reason) == ("failed", "crashed")
    assert r.summary == "the server crashed with NameError"  # the exception is the headline
    assert "exited before it listened" in r.observed


def test_a_never_listening_server_says_where_its_main_thread_waits():
    def stuck(run):
        snap = server_snapshot(syscall=("nanosleep", (0,)))
        return snap.__class__(snap.processes, ())

    r = grade("echo", FakeSandbox(observe=stuck))
    assert "meanwhile its main thread is sleeping in nanosleep()" in r.observed


def test_readiness_that_cannot_be_observed_is_not_graded_never_failed():
    r = grade("echo", FakeSandbox(observe=lambda run: server_snapshot(sockets_visible=False, fds_visible=False)))
    assert (r.status, r.score, r.max_score) == ("not_graded", 0, 0)
    assert r.summary.startswith("not graded here: the server's listening socket")


# --- leaks --------------------------------------------------------------------------------------------------
# every cycle talks, so each connection is known accepted by its reply (the fake snapshots list no client)
LEAK_FAST = {"cycles": 4, "batch": 2, "settle_timeout": 0.2, "kinds": ["echo+close"]}
# clients that only connect and close wait to be seen accepted, which the fake server never is: a slow server
LEAK_SLOW = {"cycles": 50, "batch": 2, "settle_timeout": 0.2, "kinds": ["close"], "reply_timeout": 0.2,
             "churn_timeout": 0.5, "min_cycles": 12}


def test_no_leaks_passes_a_server_back_to_its_baseline():
    r = grade("no_leaks", FakeSandbox(upper_echo), **LEAK_FAST)
    assert r.status == "passed"
    assert "0 close_wait socket(s), 4 open fds, 1 thread(s)" in r.transcript[-1].text.lower()


def test_no_leaks_fails_on_close_wait_sockets():
    r = grade("no_leaks", FakeSandbox(upper_echo, observe=lambda run: server_snapshot(
        conns=() if run.server.accepted <= 1 else ("CLOSE_WAIT", "CLOSE_WAIT"))), **LEAK_FAST)
    assert (r.status, r.reason) == ("failed", "leak")
    assert "2 connection(s) left in close_wait" in r.summary.lower()
    assert r.evidence["close_wait"] == 2


def test_no_leaks_fails_when_fds_grow():
    r = grade("no_leaks", FakeSandbox(upper_echo, observe=lambda run: server_snapshot(
        extra_fds=0 if run.server.accepted <= 1 else 20)), **LEAK_FAST)
    assert (r.status, r.reason) == ("failed", "leak")
    assert "open file descriptors grew from" in r.summary


def test_no_leaks_tolerates_the_fd_slack():
    r = grade("no_leaks", FakeSandbox(upper_echo, observe=lambda run: server_snapshot(
        extra_fds=0 if run.server.accepted <= 1 else 3)), fd_slack=3, **LEAK_FAST)
    assert r.status == "passed"


def test_no_leaks_fails_when_threads_grow_beyond_the_allowed_growth():
    r = grade("no_leaks", FakeSandbox(upper_echo, observe=lambda run: server_snapshot(
        threads=1 if run.server.accepted <= 1 else 9)), max_thread_growth=2, **LEAK_FAST)
    assert (r.status, r.reason) == ("failed", "leak")
    assert "thread count grew from 1 to 9" in r.summary


def test_no_leaks_without_fd_observation_is_not_graded():
    r = grade("no_leaks", FakeSandbox(upper_echo, observe=lambda run: server_snapshot(
        fds_visible=run.server.accepted <= 1)), **LEAK_FAST)
    assert (r.status, r.max_score) == ("not_graded", 0)
    assert "cannot be observed here (not visible to the fake observer)" in r.summary


def test_no_leaks_says_a_server_too_slow_to_accept_is_slow_not_leaky():
    r = grade("no_leaks", FakeSandbox(upper_echo), **LEAK_SLOW)
    assert (r.status, r.reason) == ("failed", "slow")
    assert r.summary.startswith("the server is too slow to be judged for leaks: 2 connect/close cycles")
    assert "nothing leaked in those" in r.summary


def test_no_leaks_still_says_leak_when_a_slow_server_leaves_close_wait_sockets():
    # (the fake's own accept count would race the churn, which never waits for a reply here)
    r = grade("no_leaks", FakeSandbox(upper_echo, observe=lambda run: server_snapshot(conns=("CLOSE_WAIT",))),
              **LEAK_SLOW)
    assert (r.status, r.reason) == ("failed", "leak")
    assert "1 connection(s) left in close_wait" in r.summary.lower()


# --- idle CPU -----------------------------------------------------------------------------------------------
def test_idle_cpu_passes_a_server_that_sleeps(clock):
    r = grade("idle_cpu", FakeSandbox(upper_echo, observe=lambda run: server_snapshot(cpu=0.2, run=0.2)))
    assert r.status == "passed"
    assert "runnable 0.000 s of 1.50 s (0%)" in r.transcript[-1].text


def test_idle_cpu_fails_a_server_runnable_all_the_time(clock):
    r = grade("idle_cpu", FakeSandbox(upper_echo, observe=lambda run: server_snapshot(
        cpu=(clock.now - 1000) / 2, run=clock.now - 1000)))
    assert (r.status, r.reason) == ("failed", "busy")
    assert "burns cpu while idle: busy 100%" in r.summary.lower()


def test_idle_cpu_without_schedstat_judges_the_cpu_time(clock):
    r = grade("idle_cpu", FakeSandbox(upper_echo, observe=lambda run: server_snapshot(
        cpu=clock.now - 1000, run=None)))
    assert (r.status, r.reason) == ("failed", "busy")


def test_idle_cpu_threshold_is_the_params(clock):
    busy_a_fifth = FakeSandbox(upper_echo, observe=lambda run: server_snapshot(run=(clock.now - 1000) * 0.2))
    assert grade("idle_cpu", busy_a_fifth, max_cpu_percent=30).status == "passed"
    assert grade("idle_cpu", busy_a_fifth, max_cpu_percent=10).status == "failed"


def test_idle_cpu_counts_the_time_the_cpu_cap_held_a_spinner_back(clock):
    """Capped at a quarter of a core once listening, a spinning server runs 25% and is held back 75%: busy
    100%, as without the cap."""
    quarter = lambda: (clock.now - 1000) * 0.25  # noqa: E731
    spinner = FakeSandbox(upper_echo, observe=lambda run: server_snapshot(cpu=quarter(), run=quarter()),
                          throttled=lambda: (clock.now - 1000) * 0.75)
    r = grade("idle_cpu", spinner)
    assert spinner.runs[0].cpu_cap == COURSE.defaults.server_cpus_once_listening > 0
    assert (r.status, r.reason) == ("failed", "busy")
    assert "busy 100%" in r.summary
    assert "held back by its cpu cap" in text(r)
    assert "it may use 0.25 of a core" in " ".join(e.text for e in r.transcript)


def test_idle_cpu_a_capped_server_that_sleeps_passes(clock):
    sleeper = FakeSandbox(upper_echo, observe=lambda run: server_snapshot(run=0.2), throttled=lambda: 0.0)
    assert grade("idle_cpu", sleeper).status == "passed"


# --- structure ----------------------------------------------------------------------------------------------
def test_single_thread_passes_one_process_one_thread():
    assert grade("single_thread", FakeSandbox(upper_echo), clients=3).status == "passed"


def test_single_thread_fails_a_threaded_server():
    r = grade("single_thread", FakeSandbox(upper_echo, observe=lambda run: server_snapshot(threads=4)), clients=3)
    assert (r.status, r.reason) == ("failed", "structure")
    assert "uses threads: 4 threads observed" in r.summary


def test_single_thread_fails_a_forking_server():
    r = grade("single_thread", FakeSandbox(upper_echo, observe=lambda run: server_snapshot(processes=3)),
              clients=3)
    assert "started child processes: 3 processes" in r.summary


def test_single_thread_allows_what_the_params_allow():
    sandbox = FakeSandbox(upper_echo, observe=lambda run: server_snapshot(threads=2))
    assert grade("single_thread", sandbox, clients=2, max_threads=2).status == "passed"


def nb(*flags, conns=("ESTABLISHED", "ESTABLISHED")):
    return FakeSandbox(upper_echo, observe=lambda run: server_snapshot(conns=conns, nonblocking=flags))


def test_nonblocking_sockets_passes_when_every_socket_is_nonblocking():
    assert grade("nonblocking_sockets", nb(True, True, True), clients=2).status == "passed"


def test_nonblocking_sockets_fails_blocking_accepted_sockets_with_the_windows_explanation():
    r = grade("nonblocking_sockets", nb(True, False, False), clients=2)
    assert (r.status, r.reason) == ("failed", "blocking_socket")
    assert "2 socket(s) in blocking mode: fd 4 (accepted connection), fd 5 (accepted connection)" in r.summary
    assert "does not inherit the listener's nonblocking mode" in r.observed


def test_nonblocking_sockets_fails_a_blocking_listener():
    r = grade("nonblocking_sockets", nb(False, True, True), clients=2)
    assert "the listening socket is blocking" in r.observed


def test_nonblocking_sockets_fails_a_server_that_accepts_nobody():
    r = grade("nonblocking_sockets", nb(True, conns=()), clients=2)
    assert (r.status, r.reason) == ("failed", "no_accept")


def test_nonblocking_sockets_without_fd_flags_is_not_graded():
    r = grade("nonblocking_sockets", nb(None, None, None), clients=2)
    assert (r.status, r.score, r.max_score) == ("not_graded", 0, 0)
    assert "o_nonblock flag" in r.summary.lower()


def test_nonblocking_sockets_fails_a_forbidden_import_before_running_anything():
    sandbox = FakeSandbox(upper_echo)
    r = grade("nonblocking_sockets", sandbox, forbidden_imports=["select"], requirement="no select")
    assert (r.status, r.reason) == ("failed", "structure")
    assert sandbox.runs == []


# runtime evidence (grader/harness/evidence.py): what the grader's observer in the run reported, and the syscalls seen
NO_SELECT_IN_SOURCE = REPO / "reference" / "nonblocking_server"


def evidence_grade(sandbox: FakeSandbox):
    return grade("nonblocking_sockets", sandbox, submission=NO_SELECT_IN_SOURCE, clients=2,
                 forbidden_imports=["select", "selectors"], requirement="no select")


def test_nonblocking_sockets_passes_when_the_observer_saw_nothing_forbidden():
    r = evidence_grade(FakeSandbox(upper_echo, observe=lambda run: server_snapshot(conns=("ESTABLISHED",) * 2)))
    assert r.status == "passed", r.summary


def test_nonblocking_sockets_fails_a_select_hidden_from_the_source_but_called_at_run_time():
    sandbox = FakeSandbox(upper_echo, observe=lambda run: server_snapshot(conns=("ESTABLISHED",) * 2),
                          evidence=[("call", "select.select server.py:17")])
    r = evidence_grade(sandbox)
    assert (r.status, r.reason) == ("failed", "structure")
    assert "called `select.select()` at run time (server.py:17)" in r.summary


def test_nonblocking_sockets_fails_a_server_seen_waiting_in_select():
    sandbox = FakeSandbox(upper_echo, observe=lambda run: server_snapshot(
        conns=("ESTABLISHED",) * 2, syscall=("select", (5, 0, 0, 0, 0, 0))))
    r = evidence_grade(sandbox)
    assert r.status == "failed"
    assert "waited in select() at run time" in r.summary


def test_nonblocking_sockets_fails_a_run_whose_observer_was_silenced_never_passes_it():
    sandbox = FakeSandbox(upper_echo, observe=lambda run: server_snapshot(conns=("ESTABLISHED",) * 2),
                          evidence=[])
    r = evidence_grade(sandbox)
    assert (r.status, r.reason) == ("failed", "unobserved")
    assert "could not observe" in r.summary


def test_the_observers_channel_is_checked_by_its_pipe_and_only_where_fds_are_listed():
    from grader.harness.evidence import Evidence, channel_cut
    from grader.sandbox.observe import Fd, Snapshot
    from tests.fakes import proc

    class Run:
        def __init__(self, fds):
            self.stderr = type("Out", (), {"pipe_inode": 77})()
            self.snap = Snapshot((proc(100, fds=fds),), ())

        def snapshot(self):
            return self.snap

    ev = Evidence(hello=True, channel_fd=900)
    assert not channel_cut(Run((Fd(900, None, False, pipe=77),)), ev)  # still the grader's pipe
    assert channel_cut(Run((Fd(900, None, False, pipe=78),)), ev)  # replaced by another pipe
    assert channel_cut(Run((Fd(3, None, False),)), ev)  # closed
    assert not channel_cut(Run(tuple(Fd(-1 - i, None, None) for i in range(5))), ev)  # psutil: counted only
    assert not channel_cut(Run(None), ev)  # fds not observable here


# --- diagnosis of a stuck server -----------------------------------------------------------------------------
def stuck_in(syscall, *flags):
    return FakeSandbox(silent, observe=lambda run: server_snapshot(conns=("ESTABLISHED",), nonblocking=flags,
                                                                   syscall=syscall))


def test_a_server_stuck_in_recv_on_a_blocking_socket_gets_the_windows_note():
    r = grade("echo", stuck_in(("recvfrom", (4, 0)), True, False), reply_timeout=0.05, sizes=[5])
    assert "main thread is blocked in recvfrom() on a connection socket (fd 4" in r.diagnosis
    assert "on windows it inherits nonblocking mode" in r.diagnosis.lower()


def test_a_blocking_listener_and_recv_get_the_readiness_advice():
    r = grade("echo", stuck_in(("recvfrom", (4, 0)), False, False), reply_timeout=0.05, sizes=[5])
    assert "serve every client through readiness" in r.diagnosis


def test_a_server_stuck_in_a_blocking_accept_is_told_so():
    r = grade("echo", stuck_in(("accept4", (3, 0)), False, True), reply_timeout=0.05, sizes=[5])
    assert "a blocking accept() waits for a new client" in r.diagnosis.lower()


def test_a_server_waiting_in_select_gets_no_why_line_it_explains_nothing():
    r = grade("echo", stuck_in(("select", (5, 0)), True, True), reply_timeout=0.05, sizes=[5])
    assert (r.status, r.reason) == ("failed", "no_reply")
    assert r.diagnosis == ""  # an idle event loop looks just like that: "waiting in select()" is no reason


def test_a_busy_server_is_told_it_was_running(clock):
    sandbox = FakeSandbox(silent, observe=lambda run: server_snapshot(cpu=clock.now - 1000 + run.snapshots))
    r = grade("echo", sandbox, reply_timeout=0.05, sizes=[5])
    assert "busy in a loop" in r.diagnosis


# --- uses: a readiness API must be seen waiting (issue 18) ---------------------------------------------------
READINESS = ["select.select", "select.poll", "select.epoll", "selectors.*Selector"]


def test_uses_passes_a_server_seen_waiting_in_a_readiness_call():
    waits = FakeSandbox(upper_echo, observe=lambda run: server_snapshot(conns=("ESTABLISHED",) * 3,
                                                                        syscall=("epoll_wait", (3,))))
    r = grade("uses", waits, any_of=READINESS)
    assert (r.status, r.score) == ("passed", 2), r.summary


def test_uses_fails_a_server_that_sleeps_between_polls_naming_what_it_does():
    sleeps = FakeSandbox(upper_echo, observe=lambda run: server_snapshot(conns=("ESTABLISHED",) * 3,
                                                                         syscall=("clock_nanosleep", (1,))))
    r = grade("uses", sleeps, any_of=READINESS)
    assert (r.status, r.reason) == ("failed", "structure")
    assert "but was never seen waiting in it; between polls it sleeps in clock_nanosleep" in r.summary
    assert r.summary.startswith("called select")
    assert "sleeping in clock_nanosleep() in" in r.observed


def test_uses_judges_only_the_source_when_told_so():
    sleeps = FakeSandbox(upper_echo, observe=lambda run: server_snapshot(syscall=("clock_nanosleep", (1,))))
    r = grade("uses", sleeps, any_of=READINESS, judge_waiting=False)
    assert r.status == "passed"
