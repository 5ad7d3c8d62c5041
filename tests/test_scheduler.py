"""The batch scheduler and its start gate, driven with fakes (the way pytest-xdist tests its schedulers with
fake nodes): the grading call, the gate's probe, its cgroup join and its clock are arguments. No process is
started; each test takes milliseconds. Ctrl-C is a real SIGINT delivered to this process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from grader.batch.controller import BatchConfig, run_batch
from grader.batch.discover import Submission
from grader.batch.floor import CpuMeter, batch_floor, busy_cpu_seconds
from grader.batch.gate import StartGate
from grader.batch.journal import Journal
from grader.batch.order import LongestFirst, spec_seconds
from grader.batch.scheduler import Job, Scheduler
from grader.errors import UsageError
from grader.results import BehaviourResult, SubmissionResult
from tests.conftest import COURSE, REPO, spec_of

SELECT = spec_of("select_server")
JOIN = spec_of("gevent_join")  # a script assignment: never one at a time
WAIT = 5.0  # seconds a fake waits for the test's go-ahead before it fails the test (never reached)


def job(student: str, spec=SELECT) -> Job:
    return Job(Submission(student, spec.name, Path("/nonexistent") / student), spec, f"fp-{student}")


def passed(j: Job) -> SubmissionResult:
    return SubmissionResult(assignment=j.spec.name, submission=str(j.submission.path), student=j.submission.student,
                     tier="fake", behaviours=[BehaviourResult(id=b.id, status="passed", score=b.points,
                                                              max_score=b.points) for b in j.spec.behaviours])


class FakeGrading:
    """A grading call that records what runs at once and, when told to, holds runs until released."""

    def __init__(self, hold: bool = False) -> None:
        self.hold = hold
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.in_flight: list[str] = []
        self.peak = 0
        self.peak_serial = 0
        self.started: list[str] = []
        self.entered = threading.Condition(self.lock)

    def __call__(self, j: Job) -> SubmissionResult:
        with self.lock:
            self.in_flight.append(j.submission.student)
            self.started.append(j.submission.student)
            self.peak = max(self.peak, len(self.in_flight))
            serial = sum(1 for s in self.in_flight if s.startswith("srv"))
            self.peak_serial = max(self.peak_serial, serial)
            self.entered.notify_all()
        try:
            if self.hold:
                assert self.release.wait(WAIT), "the test never released the run"
            else:
                threading.Event().wait(0.002)  # long enough for the others to overlap
            return passed(j)
        finally:
            with self.lock:
                self.in_flight.remove(j.submission.student)

    def wait_started(self, n: int) -> None:
        with self.lock:
            assert self.entered.wait_for(lambda: len(self.started) >= n, WAIT)


def interrupt_when(grading: FakeGrading, n: int, signals: list[int], then=lambda: None) -> threading.Thread:
    """Once n runs are in flight: send these signals to this process (the scheduler's handlers take them)."""

    def go() -> None:
        grading.wait_started(n)
        for sig in signals:
            os.kill(os.getpid(), sig)
            threading.Event().wait(0.05)  # the main thread runs the handler between its short joins
        then()

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


# --- admission ---------------------------------------------------------------------------------------------

def test_never_more_runs_in_flight_than_workers_and_every_run_done_once() -> None:
    grading, done = FakeGrading(), []
    jobs = [job(f"s{i}") for i in range(12)]
    s = Scheduler(jobs, grading, 3, on_done=lambda j, r: done.append(j.submission.student))
    outcome = s.run()
    assert sorted(done) == sorted(j.submission.student for j in jobs)
    assert outcome.done == 12
    assert not outcome.interrupted
    assert outcome.not_started == 0
    assert grading.peak <= 3
    assert s.peak_in_flight <= 3
    assert grading.peak >= 2  # and they did run at once


def test_one_at_a_time_jobs_never_overlap_each_other_but_others_still_run_alongside() -> None:
    grading = FakeGrading()
    jobs = [job(f"srv{i}") for i in range(6)] + [job(f"scr{i}", JOIN) for i in range(6)]
    s = Scheduler(jobs, grading, 4, one_at_a_time=lambda j: j.spec.kind == "server")
    assert s.run().done == 12
    assert grading.peak_serial == 1
    assert grading.peak >= 2


# --- order: longest first ------------------------------------------------------------------------------------

THREADED = spec_of("threaded_server")


class TimedGrading(FakeGrading):
    """A grading call whose runs take a time set per assignment (seconds), recording the order of starts."""

    def __init__(self, seconds: dict[str, float]) -> None:
        super().__init__()
        self.seconds = seconds

    def __call__(self, j: Job) -> SubmissionResult:
        with self.lock:
            self.started.append(j.submission.student)
        threading.Event().wait(self.seconds[j.spec.name])
        return passed(j)


def test_a_first_batch_in_the_worst_order_starts_the_slow_assignments_runs_before_the_rest() -> None:
    # Students alphabetical, the slow assignment last: found in that order, its runs would start last and the
    # batch would end a whole slow run after the rest. Nothing is known before the batch: the first run of
    # each assignment starts first, and once a quick one has finished the slow ones go before the quick rest.
    jobs = [job(f"a{i}") for i in range(8)] + [job(f"t{i}", THREADED) for i in range(4)]
    grading = TimedGrading({"select_server": 0.01, "threaded_server": 0.3})
    order = LongestFirst()
    assert Scheduler(jobs, grading, 2, order=order).run().done == 12
    assert set(grading.started[:5]) >= {"t0", "t1", "t2", "t3"}, grading.started
    assert "from spec" in order.describe()
    assert "from batch" in order.describe()
    # the same jobs in the jobs' own order: the slow runs start last (what the order is there to prevent)
    grading = TimedGrading({"select_server": 0.0, "threaded_server": 0.0})
    Scheduler(jobs, grading, 2).run()
    assert grading.started[-4:] == ["t0", "t1", "t2", "t3"]


def test_a_regrade_starts_its_runs_longest_first_by_the_journal() -> None:
    jobs = [job(f"s{i}") for i in range(6)]
    history = {f"s{i}/select_server": float(s) for i, s in enumerate([2, 9, 1, 30, 4, 3])}
    grading = TimedGrading({"select_server": 0.0})
    order = LongestFirst(history)
    Scheduler(jobs, grading, 1, order=order).run()
    assert grading.started == ["s3", "s1", "s4", "s5", "s0", "s2"]
    assert order.describe() == "longest expected first (6 from journal)"


def test_an_assignment_never_graded_before_is_judged_by_its_spec_and_the_journals_median_by_the_rest() -> None:
    clock = [100.0]
    order = LongestFirst({"old/threaded_server": 20.0, "old2/threaded_server": 10.0}, clock=lambda: clock[0])
    new_threaded, new_select, script = job("new", THREADED), job("x"), job("y", JOIN)
    assert order.expected(new_threaded) == (15.0, "journal")  # that assignment's median in the journal
    assert order.expected(new_select) == (spec_seconds(SELECT), "spec")
    order.started(new_select)
    clock[0] += 40.0  # a run in flight longer than its spec said: the time it took so far is the estimate
    assert order.expected(job("z")) == (40.0, "spec")
    order.finished(new_select, 3.0)
    assert order.expected(job("z")) == (3.0, "batch")
    assert order.pick([script, job("z"), new_threaded]) == 0  # never tried in this batch: tried first


def test_the_floor_is_the_cpu_work_over_the_cores_or_the_longest_run(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    hz = os.sysconf("SC_CLK_TCK")
    stat.write_text(f"cpu  {100 * hz} 0 {50 * hz} {1000 * hz} {5 * hz} 0 0 0 0 0\ncpu0 1 2 3\n")
    assert busy_cpu_seconds(stat) == 150.0  # user + system; idle and iowait are not busy
    meter = CpuMeter(stat)
    stat.write_text(f"cpu  {130 * hz} 0 {60 * hz} {1000 * hz} 0 0 0 0 0 0\n")
    assert meter.busy_seconds() == 40.0
    assert batch_floor(40.0, 2, 12.0) == 20.0
    assert batch_floor(40.0, 2, 25.0) == 25.0
    assert batch_floor(None, 2, 25.0) == 25.0
    assert busy_cpu_seconds(tmp_path / "absent") is None


# --- errors ------------------------------------------------------------------------------------------------

def test_a_grading_call_that_raises_is_a_harness_error_result_for_that_run_only() -> None:
    done: dict[str, SubmissionResult] = {}

    def grading(j: Job) -> SubmissionResult:
        if j.submission.student == "bob":
            raise ConnectionResetError("the sandbox helper went away")
        return passed(j)

    outcome = Scheduler([job("alice"), job("bob"), job("carol")], grading, 2,
                        on_done=lambda j, r: done.__setitem__(j.submission.student, r)).run()
    assert set(done) == {"alice", "bob", "carol"}
    assert outcome.done == 3
    assert outcome.harness_errors == 1
    assert not outcome.errors
    assert not outcome.interrupted
    bob = done["bob"]
    assert bob.student == "bob"
    assert bob.assignment == "select_server"
    assert [b.id for b in bob.behaviours] == [b.id for b in SELECT.behaviours]
    assert {(b.status, b.reason, b.score) for b in bob.behaviours} == {("error", "harness", 0.0)}
    assert bob.behaviours[0].observed == "ConnectionResetError: the sandbox helper went away"
    assert "not your fault" in bob.behaviours[0].summary
    assert done["alice"].all_passed


def test_a_usage_error_stops_the_batch_and_is_reported_not_recorded() -> None:
    done = []

    def grading(j: Job) -> SubmissionResult:
        raise UsageError("port 9000 is in use by another program")

    outcome = Scheduler([job(f"s{i}") for i in range(5)], grading, 1, on_done=lambda j, r: done.append(j)).run()
    assert done == []
    assert outcome.done == 0
    assert [str(e) for _j, e in outcome.errors] == ["port 9000 is in use by another program"]
    assert outcome.interrupted
    assert outcome.not_started == 4


def test_a_result_that_cannot_be_recorded_stops_the_batch() -> None:
    def on_done(j: Job, r: SubmissionResult) -> None:
        raise OSError(28, "No space left on device")

    outcome = Scheduler([job(f"s{i}") for i in range(4)], FakeGrading(), 1, on_done=on_done).run()
    assert outcome.done == 0
    assert len(outcome.errors) == 1
    assert outcome.not_started == 3


# --- Ctrl-C ------------------------------------------------------------------------------------------------

def test_first_ctrl_c_starts_nothing_new_and_keeps_the_runs_in_flight() -> None:
    grading, done, notices = FakeGrading(hold=True), [], []
    s = Scheduler([job(f"s{i}") for i in range(6)], grading, 2, on_done=lambda j, r: done.append(j),
                  on_notice=notices.append)
    interrupt_when(grading, 2, [signal.SIGINT], then=grading.release.set)
    outcome = s.run()
    assert len(done) == 2
    assert outcome.done == 2
    assert outcome.abandoned == 0
    assert outcome.not_started == 4
    assert outcome.interrupted
    assert sorted(grading.started) == ["s0", "s1"]
    assert any("waiting for the 2 run(s) in flight" in n for n in notices)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


def test_second_ctrl_c_abandons_the_runs_in_flight_and_keeps_nothing_of_them() -> None:
    grading, done, abandoned = FakeGrading(hold=True), [], []

    def on_abandon() -> None:  # what a real backend does: interrupt the sessions, which then end
        abandoned.append(True)
        grading.release.set()

    s = Scheduler([job(f"s{i}") for i in range(5)], grading, 2, on_done=lambda j, r: done.append(j),
                  on_abandon=on_abandon)
    interrupt_when(grading, 2, [signal.SIGINT, signal.SIGINT])
    outcome = s.run()
    assert abandoned == [True]
    assert done == []
    assert outcome.abandoned == 2
    assert outcome.done == 0
    assert outcome.not_started == 3
    assert outcome.interrupted


def test_sigterm_abandons_at_once_and_the_batch_stops_waiting_for_runs_that_ignore_it() -> None:
    grading = FakeGrading(hold=True)
    s = Scheduler([job("s0"), job("s1")], grading, 2, abandon_grace=0.05)
    interrupt_when(grading, 2, [signal.SIGTERM])
    outcome = s.run()  # returns although the runs never end (they are the tethers' business then)
    grading.release.set()
    assert outcome.interrupted
    assert outcome.done == 0


# --- the start gate ----------------------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        threading.Event().wait(0.001)  # let other threads run, as a real sleep would


def fake_gate(readings: list[float], **kw) -> tuple[StartGate, FakeClock]:
    clock = FakeClock()
    it = iter(readings)
    gate = StartGate(spacing=0.5, probe=lambda: next(it), clock=clock, sleep=clock.sleep, start_probing=False, **kw)
    return gate, clock


def test_gate_holds_starts_while_the_cpu_is_oversubscribed() -> None:
    gate, clock = fake_gate([1.2, 9.0, 8.0, 7.0, 1.1, 1.0, 1.0, 1.0, 1.0])
    assert not gate.may_start()  # no reading yet: wait for one
    gate.sample()
    assert gate.slowdown() == 1.2
    assert gate.may_start()
    gate.started()
    assert not gate.may_start()
    assert clock.slept[-1] == pytest.approx(0.5)
    for _ in range(3):
        gate.sample()
    held = gate.held_seconds
    assert gate.slowdown() == 8.0
    assert not gate.may_start()
    assert gate.held_seconds == held + StartGate.TICK
    for _ in range(5):
        gate.sample()
    assert gate.slowdown() == 1.0
    assert gate.may_start()


def test_gate_probe_thread_joins_the_runs_cgroup_and_leaves_it_on_close() -> None:
    events: list[str] = []
    sampled = threading.Event()

    def probe() -> float:
        sampled.set()
        return 1.0

    def join():
        events.append(f"join {threading.current_thread().name}")
        return lambda: events.append("leave")

    gate = StartGate(probe=probe, join_cgroup=join)
    assert sampled.wait(WAIT)
    gate.close()
    assert events == ["join start-gate", "leave"]


def test_scheduler_always_starts_one_run_however_busy_the_gate_says_the_machine_is() -> None:
    gate, _clock = fake_gate([50.0] * 100)
    gate.sample()
    grading = FakeGrading(hold=True)

    def release_once_held() -> None:
        while gate.held_seconds < 1.0:
            threading.Event().wait(0.001)
        grading.release.set()

    threading.Thread(target=release_once_held, daemon=True).start()
    outcome = Scheduler([job("s0"), job("s1")], grading, 2, gate=gate).run()
    assert outcome.done == 2
    assert grading.peak == 1


# --- resume from the journal, through the controller with a fake backend ------------------------------------

class FakeBackend:
    where = "fake (tier X)"

    def __init__(self, grading) -> None:
        self.grading, self.closed = grading, False

    def workers(self, specs) -> int:
        return 2

    def gate(self):
        return None

    def one_at_a_time(self, j: Job) -> bool:
        return False

    def grade(self, j: Job) -> SubmissionResult:
        return self.grading(j)

    def abandon(self) -> None: ...

    def close(self) -> None:
        self.closed = True


def test_an_interrupted_batch_resumes_from_its_journal_and_grades_each_run_once(tmp_path: Path) -> None:
    root = tmp_path / "subs"
    students = [f"st{i:02}" for i in range(6)]
    for st in students:
        (root / st / "select_server").mkdir(parents=True)
        (root / st / "select_server" / "server.py").write_text(f"# {st}\n")
    cfg = BatchConfig(root=root, layout="{student}/{assignment}", out=tmp_path / "out", workers=2,
                      assignments=("select_server",))
    first = FakeGrading(hold=True)
    interrupt_when(first, 2, [signal.SIGINT], then=first.release.set)
    backend = FakeBackend(first)
    report = run_batch(COURSE, cfg, backend=backend)
    assert report.outcome.interrupted
    assert report.outcome.done == 2
    assert backend.closed
    assert not (cfg.out / "grades.csv").exists()  # the class files wait for a complete batch
    journalled = set(Journal(cfg.out / "journal.jsonl").load())
    assert len(journalled) == 2

    second = FakeGrading()
    report = run_batch(COURSE, cfg, backend=FakeBackend(second))
    assert not report.outcome.interrupted
    assert len(report.plan.reused) == 2
    assert sorted(second.started) == sorted(set(students) - {k.split("/")[0] for k in journalled})
    assert sorted(r.student for r in report.results) == students
    rows = (cfg.out / "grades.csv").read_text().splitlines()
    assert len(rows) == 1 + len(students)


def test_without_cluster_the_batch_never_imports_distributed() -> None:
    code = ("import sys, grader.cli, grader.batch.controller, grader.commands.grade, grader.batch.local\n"
            "print('distributed' in sys.modules, 'dask' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == ["False", "False"]
