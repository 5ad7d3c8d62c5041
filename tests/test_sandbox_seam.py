"""The sandbox's seam, fast: the tier registry and its capabilities, the start skeleton, the probe, and the
observation backends reading a real process (this test's own) without root."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from grader.errors import UsageError
from grader.results import BehaviourResult, SubmissionResult
from grader.sandbox import TIERS, Launch, Snapshot, Tier, choose_sandbox
from grader.sandbox.observe import Fd, Observer, PsutilObserver, UidObserver, from_plain
from grader.sandbox.probe import prove
from grader.sandbox.tiers.base import Held
from tests.fakes import FakeRun, FakeSandbox, lowercase_echo, proc, server_snapshot, sock

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


# --- the registry -------------------------------------------------------------------------------------------
def test_tiers_are_ordered_best_first_with_unique_names():
    assert [t.level for t in TIERS] == sorted(t.level for t in TIERS)
    assert len({t.name for t in TIERS}) == len(TIERS)
    assert TIERS[0].name == "bwrap"
    assert TIERS[-1].name == "plain"


@pytest.mark.parametrize(("name", "shares", "isolates_fs", "cgroups", "own_net"), [
    ("bwrap", False, True, True, True), ("netns", False, False, None, True), ("userns", False, False, False, True),
    ("plain", True, False, False, False)])
def test_each_tier_declares_its_capabilities(name, shares, isolates_fs, cgroups, own_net):
    cls = next(t for t in TIERS if t.name == name)
    assert cls.shares_host_port is shares
    assert cls.isolates_filesystem is isolates_fs
    assert cls.own_network is own_net
    if cgroups is not None:  # netns has them only where the machine has a cgroup layout
        assert cls.cgroup_limits is cgroups


def test_only_the_tier_without_a_network_namespace_shares_the_host_port():
    assert all(t.shares_host_port == (not t.own_network) for t in TIERS)


def test_the_tier_label_comes_from_the_type():
    assert FakeSandbox().tier == "fake (tier F)"


def test_an_unknown_tier_is_a_usage_error_naming_the_known_ones():
    with pytest.raises(UsageError, match=r"unknown isolation tier 'docker' \(known: bwrap, netns, userns, plain\)"):
        choose_sandbox("docker")


def test_an_unknown_observation_backend_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown observation backend 'dtrace'"):
        choose_sandbox("plain", observe="dtrace")


def test_forcing_plain_gives_the_plain_tier_with_the_requested_observer():
    tier = choose_sandbox("plain (tier C)", observe="psutil")
    assert (tier.name, tier.level, tier.observe) == ("plain", "C", "psutil")
    assert isinstance(tier.observer_for(None), PsutilObserver)


def test_without_proc_the_observer_is_psutil(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    tier = FakeSandbox()
    assert tier.observes_with_psutil
    assert isinstance(tier.observer_for(None), PsutilObserver)


def test_on_linux_a_root_grader_without_cap_sys_ptrace_observes_as_the_runs_uid(monkeypatch):
    import grader.sandbox.tiers.base as tier_module

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(tier_module.os, "geteuid", lambda: 0)
    monkeypatch.setattr(tier_module, "effective_caps", lambda: 0xFFFFFFFF & ~(1 << tier_module.CAP_SYS_PTRACE))
    monkeypatch.setattr(tier_module, "UidObserver", lambda uid, gid: ("uid observer", uid, gid))
    assert FakeSandbox().observer_for((60001, 60001)) == ("uid observer", 60001, 60001)
    assert type(FakeSandbox().observer_for(None)) is Observer  # a run of our own uid: read it here
    monkeypatch.setattr(tier_module, "effective_caps", lambda: 0xFFFFFFFF)
    assert type(FakeSandbox().observer_for((60001, 60001))) is Observer


def test_the_container_hint_names_the_missing_capabilities(monkeypatch):
    import grader.sandbox.tiers.base as tier_module

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(tier_module.os, "geteuid", lambda: 0)
    monkeypatch.setattr(tier_module, "effective_caps", lambda: 1 << tier_module.CAP_SYS_ADMIN)
    assert tier_module.container_hint() == ": CAP_SYS_PTRACE missing (a container?)"
    monkeypatch.setattr(tier_module.os, "geteuid", lambda: 1000)
    assert tier_module.container_hint() == ""


# --- the start skeleton ---------------------------------------------------------------------------------------
def test_held_resources_are_released_last_first_even_when_one_release_fails():
    order = []
    held = Held()
    held.add(lambda: order.append("slot"))
    held.add(lambda: 1 / 0)
    held.add(lambda: order.append("cgroup"))
    held.release()
    assert order == ["cgroup", "slot"]
    held.release()  # twice is harmless
    assert order == ["cgroup", "slot"]


class _FailingTier(Tier):
    name, level = "failing", "F"

    def __init__(self, released: list[str]) -> None:
        super().__init__()
        self.released = released

    def _spawn(self, launch, held):
        held.add(lambda: self.released.append("port lock"))
        held.add(lambda: self.released.append("scratch"))
        raise OSError("Popen failed")


def test_a_start_that_fails_releases_everything_it_held(tmp_path):
    released: list[str] = []
    with pytest.raises(OSError, match="Popen failed"):
        _FailingTier(released).start(Launch(tmp_path, "server.py"))
    assert released == ["scratch", "port lock"]


class _UnobservableTier(Tier):
    name, level = "unobservable", "F"

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[FakeRun] = []

    def _spawn(self, launch, held):
        held.add(lambda: self.spawned.append("released"))
        run = FakeRun(lowercase_echo, lambda run: server_snapshot())
        self.spawned.append(run)
        return run

    def observer_for(self, uid):
        raise PermissionError("the interpreter cannot be run by uid 60001")


def test_a_run_whose_observer_cannot_start_is_stopped_not_left_running(tmp_path):
    tier = _UnobservableTier()
    with pytest.raises(PermissionError, match="cannot be run by uid"):
        tier.start(Launch(tmp_path, "server.py"))
    run = tier.spawned[0]
    assert run.stopped
    assert tier.spawned[1:] == ["released"]


# --- the probe -----------------------------------------------------------------------------------------------
def test_the_probe_accepts_a_tier_whose_trial_server_is_seen_and_reached():
    assert prove(FakeSandbox(lowercase_echo, observe=lambda run: _listening_on(run))) is None


def _listening_on(run: FakeRun) -> Snapshot:
    snap = server_snapshot()
    return Snapshot(snap.processes, (sock(3, "LISTEN", port=run.server.port),))


def test_the_probe_rejects_a_tier_whose_fds_cannot_be_read():
    why = prove(FakeSandbox(lowercase_echo, observe=lambda run: server_snapshot(fds_visible=False)))
    assert why is not None
    assert why.startswith("cannot read the fds of the run's uid through fake")


def test_the_probe_rejects_a_tier_whose_server_cannot_be_reached():
    def refuse(conn):
        conn.recv(64)  # read first, so that the close is a FIN, not a reset
        conn.close()

    why = prove(FakeSandbox(refuse, observe=_listening_on))
    assert why is not None
    assert "echo did not come back" in why


def test_the_probe_rejects_a_trial_server_that_exits():
    why = prove(FakeSandbox(exit_code=3, stderr=b"ImportError: no module named gevent\n",
                            observe=lambda run: Snapshot(server_snapshot().processes, ())))
    assert why == "the trial server exited: ImportError: no module named gevent"


def test_psutil_cannot_prove_a_tier_with_its_own_network_without_starting_it():
    class Namespaced(FakeSandbox):
        own_network = True

    tier = Namespaced()
    tier.observe = "psutil"
    assert "only in the grader's own network namespace" in prove(tier)
    assert tier.runs == []


# --- snapshots as plain data ---------------------------------------------------------------------------------
def test_fd_count_is_unknown_when_any_process_cannot_be_read():
    snap = Snapshot((proc(1, fds=(Fd(0, None, False),)), proc(2, fds=None)), None)
    assert snap.fd_count() is None
    assert Snapshot((proc(1, fds=(Fd(0, None, False),)),), ()).fd_count() == 1


def test_sched_seconds_are_unknown_without_schedstat():
    assert Snapshot((proc(1, run=None, wait=None),), ()).sched_seconds() is None
    assert Snapshot((proc(1, run=0.5, wait=0.25), proc(2, run=0.5, wait=0.0)), ()).sched_seconds() == (1.0, 0.25)


@pytest.mark.parametrize(("syscall", "expected"), [
    (("recvfrom", (4, 0)), "blocked in recvfrom() on a connection socket (fd 4, 127.0.0.1:9000 <- 127.0.0.1:40001, "
                           "ESTABLISHED) in blocking mode"),
    (("accept4", (3, 0)), "blocked in accept4() on the listening socket (fd 3, 127.0.0.1:9000) in nonblocking mode"),
    (("read", (0, 0)), "blocked in read() on fd 0 (not a socket) in blocking mode"),
    (("epoll_wait", (7, 0)), "waiting in epoll_wait() (an event loop waiting for readiness)"),
    (("clock_nanosleep", (0,)), "sleeping in clock_nanosleep()"),
    (("futex", (0,)), "waiting on a lock or for another thread (futex)"),
    (("syscall 999", (0,)), "in syscall 999()"),
    (None, None)])
def test_where_stuck_says_what_the_main_thread_waits_in(syscall, expected):
    snap = server_snapshot(conns=("ESTABLISHED",), nonblocking=(True, False), syscall=syscall)
    assert snap.where_stuck() == expected


def test_from_plain_marks_sockets_unobservable_when_fds_are_not_readable():
    data = {"processes": [{"pid": 5, "state": "S", "cpu": 0.1, "run": 0.1, "wait": 0.0, "threads": 2,
                           "fds": None, "syscall": ["poll", [1, 2]]}], "sockets": []}
    snap = from_plain(data)
    assert snap.sockets is None
    assert snap.main.syscall == ("poll", (1, 2))
    assert snap.threads() == 2


# --- the real backends, on this test's own process -------------------------------------------------------------
@pytest.fixture
def listener():
    s = socket.create_server(("127.0.0.1", 0))
    s.setblocking(False)
    yield s
    s.close()


def _mine(snap: Snapshot, listener: socket.socket):
    return next(s for s in snap.sockets if s.fd == listener.fileno())


@linux_only
def test_procfs_sees_our_listener_its_state_and_its_nonblocking_flag(listener):
    snap = Observer().snapshot([os.getpid()])
    mine = _mine(snap, listener)
    assert (mine.state, mine.local) == ("LISTEN", listener.getsockname())
    assert snap.nonblocking(os.getpid(), listener.fileno()) is True
    assert snap.fd_count() >= 3
    assert snap.main.threads >= 1
    assert snap.sched_seconds() is not None


@linux_only
def test_the_uid_observer_process_answers_the_same_as_reading_here(listener):
    observer = UidObserver(os.getuid(), os.getgid())
    try:
        snap = observer.snapshot([os.getpid()])
        assert _mine(snap, listener).state == "LISTEN"
        assert snap.nonblocking(os.getpid(), listener.fileno()) is True
        assert observer.readlink(f"/proc/{os.getpid()}/ns/pid") == os.readlink("/proc/self/ns/pid")
    finally:
        observer.close()


@linux_only
def test_the_uid_observer_opens_a_namespace_file_and_hands_over_the_fd():
    observer = UidObserver(os.getuid(), os.getgid())
    try:
        fd = observer.open_fd(f"/proc/{os.getpid()}/ns/net")
        try:
            assert os.fstat(fd).st_ino == os.stat("/proc/self/ns/net").st_ino
        finally:
            os.close(fd)
        with pytest.raises(PermissionError, match="FileNotFoundError"):
            observer.open_fd("/proc/no-such-process/ns/net")
        assert observer.snapshot([os.getpid()]).main.pid == os.getpid()  # still in step after both
    finally:
        observer.close()


def test_the_psutil_observer_sees_sockets_and_counts_fds_but_not_their_flags(listener):
    snap = PsutilObserver(sockets_visible=True).snapshot([os.getpid()])
    assert _mine(snap, listener).state == "LISTEN"
    assert snap.nonblocking(os.getpid(), listener.fileno()) is None
    assert snap.fd_count() >= 3
    assert snap.sched_seconds() is None  # no schedstat: the checks fall back to CPU time


def test_the_psutil_observer_in_a_foreign_network_namespace_reports_sockets_unknown():
    snap = PsutilObserver(sockets_visible=False).snapshot([os.getpid()])
    assert snap.sockets is None
    assert snap.main.pid == os.getpid()


def test_a_snapshot_of_vanished_processes_is_empty():
    assert Observer().snapshot([2 ** 22 + 7]).processes == ()


# --- not graded in results -------------------------------------------------------------------------------------
def _result(status: str, score: float, max_score: float) -> BehaviourResult:
    return BehaviourResult(id=status, status=status, score=score, max_score=max_score)


def test_not_graded_counts_for_nothing_and_does_not_spoil_all_passed():
    run = SubmissionResult(assignment="a", submission="s", behaviours=[
        _result("passed", 2, 2), _result("not_graded", 0, 0)])
    assert (run.score, run.max_score, run.all_passed) == (2, 2, True)
    assert [b.id for b in run.not_graded] == ["not_graded"]


def test_reporters_know_the_not_graded_status():
    from grader.reporters import classroom, terminal

    run = SubmissionResult(assignment="a", submission="s", behaviours=[_result("not_graded", 0, 0)])
    assert "SKIP" in terminal.render(run)
    assert classroom.to_classroom(run)  # no KeyError on the status map


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_a_slot_whose_uid_still_has_a_process_is_skipped_not_reused():
    """Slots are taken by flock; a uid with a live process (a leftover of a killed grader) is never handed
    out again, and its process is left alone."""
    from grader.sandbox import slots

    first = slots.acquire()
    busy = first.uid + 1
    squatter = subprocess.Popen(["setpriv", f"--reuid={busy}", f"--regid={busy}", "--clear-groups", "--",
                                 "sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while squatter.pid not in slots.processes_of(busy) and time.monotonic() < deadline:
            time.sleep(0.01)
        # `in`, not `==`: another grader on this machine (a benchmark, a second suite) may be using that uid too
        assert squatter.pid in slots.processes_of(busy)
        second = slots.acquire()
        try:
            assert second.uid not in (first.uid, busy)
            assert squatter.poll() is None
        finally:
            second.release()
    finally:
        squatter.kill()
        squatter.wait()
        first.release()


def test_no_tier_message_names_each_tier_and_the_closed_folder_fix():
    from grader.sandbox import no_tier_message

    closed = ("cannot observe the run: the observer process is gone: grader-launch: cannot isolate the submission: "
              "[Errno 1] /root (where the interpreter or the submission lives) is closed to other users, and "
              "opening it for the run needs CAP_SYS_ADMIN")
    text = no_tier_message({"bwrap (tier A)": closed, "netns (tier B)": "creating a namespace failed",
                            "plain (tier C)": closed})
    lines = text.splitlines()
    assert lines[0].startswith("no isolation tier can observe a program on this machine, so nothing was graded")
    assert lines[1:4] == [f"  bwrap (tier A): {closed}", "  netns (tier B): creating a namespace failed",
                          f"  plain (tier C): {closed}"]
    assert lines[-1].startswith("Fix: /root is closed to other users")
    assert "`chmod o+x /root`" in lines[-1]
    other = no_tier_message({"plain (tier C)": "the trial server's echo did not come back"})
    assert other.splitlines()[-1].startswith("Fix: Tier A needs Linux, root and bubblewrap")
