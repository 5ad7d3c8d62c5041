"""`grader grade --cluster`: the packing of submissions, the backend's retry and refusal rules (with a fake
Dask client, in milliseconds), and real batches on a real two-worker Dask cluster on loopback (slow).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections import Counter
from concurrent.futures import CancelledError
from pathlib import Path

import psutil
import pytest

from grader.batch.cluster import ClusterBackend, runs_per_worker
from grader.batch.controller import BatchConfig, run_batch
from grader.batch.discover import Submission
from grader.batch.pack import PackError, pack, unpack
from grader.batch.remote import VERSION
from grader.batch.scheduler import Job
from grader.results import BehaviourResult, SubmissionResult
from tests.conftest import COURSE, REPO, spec_of

SELECT = spec_of("select_server")


# --- packing a submission ----------------------------------------------------------------------------------

def test_pack_carries_files_and_folders_only(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    (sub / "pkg" / "__pycache__").mkdir(parents=True)
    (sub / "server.py").write_text("print('hi')\n")
    (sub / "run.sh").write_text("#!/bin/sh\n")
    (sub / "run.sh").chmod(0o755)
    (sub / "pkg" / "util.py").write_bytes(b"\x00\xffbinary")
    (sub / "pkg" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"stale")
    out = unpack(pack(sub), tmp_path / "copy")
    got = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert got == ["pkg", "pkg/util.py", "run.sh", "server.py"]
    assert (out / "pkg" / "util.py").read_bytes() == b"\x00\xffbinary"
    assert os.access(out / "run.sh", os.X_OK)
    assert not os.access(out / "server.py", os.X_OK)


@pytest.mark.parametrize(("name", "make", "rule"), [
    ("secret", lambda p: p.symlink_to("/etc/shadow"), "symbolic link to a path outside"),
    ("zero", lambda p: p.symlink_to("/dev/zero"), "symbolic link to a path outside"),
    ("fifo", lambda p: os.mkfifo(p), "FIFO"),
])
def test_pack_refuses_what_intake_refuses_with_the_same_message(tmp_path: Path, name, make, rule) -> None:
    from grader.sandbox.intake import SubmissionRejected

    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "server.py").write_text("print('hi')\n")
    make(sub / name)
    with pytest.raises(SubmissionRejected, match=rule) as info:  # a cluster batch rejects it like a local one
        pack(sub)
    assert info.value.name == name
    assert info.value.reason == "submission_rejected"


def test_pack_caps_size_and_entries_with_a_message_that_says_which(tmp_path: Path) -> None:
    from grader.sandbox.intake import Caps, SubmissionRejected

    sub = tmp_path / "sub"
    sub.mkdir()
    for i in range(5):
        (sub / f"f{i}.txt").write_bytes(b"x" * 1000)
    with pytest.raises(SubmissionRejected, match=r"at most 4 files and folders"):
        pack(sub, Caps(entries=4))
    with pytest.raises(SubmissionRejected, match=r"4,500 bytes"):
        pack(sub, Caps(total_bytes=4500))
    assert len(pack(sub)) > 5000


def _archive(*members: tuple[str, bytes | None, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = data.decode()
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(("member", "message"), [
    (("../escape.py", tarfile.REGTYPE, b"x"), "not a plain relative path"),
    (("/etc/cron.d/x", tarfile.REGTYPE, b"x"), "not a plain relative path"),
    (("link", tarfile.SYMTYPE, b"/etc/shadow"), "neither a file nor a folder"),
    (("deep/x.py", tarfile.REGTYPE, b"x"), "comes before its folder"),
])
def test_unpack_refuses_a_forged_archive(tmp_path: Path, member, message: str) -> None:
    with pytest.raises(PackError, match=message):
        unpack(_archive(member), tmp_path / "t")
    assert not (tmp_path / "escape.py").exists()


# --- the backend, with a fake Dask client -------------------------------------------------------------------

class KilledWorker(Exception):
    """Named like the exception distributed raises when a task's workers kept dying."""


class FakeFuture:
    def __init__(self, outcome) -> None:
        self.outcome = outcome

    def result(self, timeout=None):
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


class FakeClient:
    """Answers each submit with the next scripted outcome: a reply factory (worker name -> reply) or an
    exception. Records on which workers each task was allowed to run."""

    status = "running"

    def __init__(self, workers: dict[str, int], script: list) -> None:
        self.info = {"workers": {w: {"nthreads": n} for w, n in workers.items()}}
        self.script = script
        self.submitted: list[dict] = []
        self.cancelled: list = []
        self.closed = False

    def scheduler_info(self):
        return self.info

    def submit(self, fn, task, **kw):
        self.submitted.append({"task": task, **kw})
        outcome = self.script.pop(0)
        return FakeFuture(outcome(task) if callable(outcome) else outcome)

    def cancel(self, futures) -> None:
        self.cancelled += futures

    def close(self) -> None:
        self.closed = True


def graded(worker: str):
    def reply(task: dict) -> dict:
        result = SubmissionResult(assignment=task["assignment"], submission="/worker/tmp/submission",
                           student=task["student"], tier="bwrap (tier A)",
                           behaviours=[BehaviourResult(id="echo", status="passed", score=1, max_score=1)])
        return {"v": VERSION, "status": "graded", "worker": worker, "host": "h", "tier": "bwrap (tier A)",
                "result": result.model_dump(mode="json"), "why": ""}
    return reply


def refused(worker: str):
    return lambda task: {"v": VERSION, "status": "refused", "worker": worker, "tier": "",
                         "result": None, "why": f"worker {worker}: isolation tier A required, but the best "
                                                "this machine offers is userns (tier B)"}


@pytest.fixture
def a_job(tmp_path: Path) -> Job:
    sub = tmp_path / "alice" / "select_server"
    sub.mkdir(parents=True)
    (sub / "server.py").write_text("# alice\n")
    return Job(Submission("alice", "select_server", sub), SELECT, "fp")


def backend(client: FakeClient, **kw) -> ClusterBackend:
    return ClusterBackend(COURSE, "tcp://fake:8786", client=client, **kw)


@pytest.mark.slow
def test_a_submission_intake_refuses_is_rejected_here_as_locally_and_never_sent(a_job: Job) -> None:
    (a_job.submission.path / "env").symlink_to("/proc/self/environ")
    client = FakeClient({"tcp://w1": 1}, [graded("tcp://w1")])
    result = backend(client).grade(a_job)
    assert client.submitted == []  # nothing of it travelled
    assert {b.reason for b in result.behaviours} == {"submission_rejected"}
    assert all(b.status == "failed" and "`env` is a symbolic link" in b.summary for b in result.behaviours)
    assert result.worker.startswith("(rejected at intake")


def test_a_task_carries_plain_data_and_the_result_comes_back_as_this_machine_records_it(a_job: Job) -> None:
    client = FakeClient({"tcp://w1": 1, "tcp://w2": 3}, [graded("tcp://w1")])
    e = backend(client, require_isolation="A", seed=7)
    assert e.capacity() == runs_per_worker(1) + runs_per_worker(3) == 4 + 12  # as the local batch on each
    result = e.grade(a_job)
    assert result.worker == "tcp://w1"
    assert result.submission == str(a_job.submission.path)
    assert result.student == "alice"
    assert result.all_passed
    task = client.submitted[0]["task"]
    assert task["require_isolation"] == "A"
    assert task["seed"] == 7
    assert unpack(task["submission"], a_job.submission.path.parent / "copy").joinpath("server.py").read_text() \
        == "# alice\n"
    assert b"assignment.yaml" in task["assignment_files"]
    json.dumps({k: v for k, v in task.items() if not isinstance(v, bytes)})  # the rest is JSON-safe
    assert client.submitted[0]["pure"] is False


def test_runs_start_while_the_cluster_has_a_free_thread_and_workers_that_join_are_used() -> None:
    from grader.batch.cluster import ClusterCapacity

    client = FakeClient({"tcp://w1": 2}, [])
    e = backend(client)
    waits: list[float] = []
    gate = ClusterCapacity(e, sleep=waits.append)
    for _ in range(runs_per_worker(2)):  # a 2-thread worker grades 8 runs at once, as the local batch on 2 cores
        assert gate.may_start()
        gate.started()
    assert not gate.may_start()  # that worker full: the run waits here, not queued at the Dask scheduler
    assert waits == [ClusterCapacity.TICK]
    client.info["workers"]["tcp://w2"] = {"nthreads": 1}  # a worker joins (a Slurm job started)
    for _ in range(runs_per_worker(1)):
        assert gate.may_start()
        gate.started()
    assert not gate.may_start()
    e.admitted -= 1  # a run came back
    assert gate.may_start()
    assert gate.held_seconds == 0
    assert gate.busy_notice is None  # waiting for a free worker is normal, not a crowded machine


def test_a_worker_below_the_required_tier_refuses_and_the_run_goes_to_another(a_job: Job) -> None:
    client = FakeClient({"tcp://w1": 1, "tcp://w2": 1}, [refused("tcp://w1"), graded("tcp://w2")])
    result = backend(client, require_isolation="A").grade(a_job)
    assert result.worker == "tcp://w2"
    assert result.all_passed
    assert client.submitted[1]["workers"] == ["tcp://w2"]  # never the refusing worker again


def test_a_task_that_fails_twice_is_a_harness_error_with_both_reasons(a_job: Job) -> None:
    client = FakeClient({"tcp://w1": 1, "tcp://w2": 1},
                        [KilledWorker("grade-alice", "tcp://w1"), refused("tcp://w2")])
    result = backend(client).grade(a_job)
    assert {(b.status, b.reason) for b in result.behaviours} == {("error", "harness")}
    assert [b.id for b in result.behaviours] == [b.id for b in SELECT.behaviours]
    observed = result.behaviours[0].observed
    assert observed.startswith("failed on 2 cluster workers: KilledWorker")
    assert "isolation tier A required" in observed


def test_losing_the_scheduler_stops_the_batch_instead_of_recording_errors(a_job: Job) -> None:
    from grader.batch.cluster import ClusterError

    client = FakeClient({"tcp://w1": 1}, [OSError("connection closed")])
    client.status = "closed"
    with pytest.raises(ClusterError, match="lost the Dask scheduler at tcp://fake:8786"):
        backend(client).grade(a_job)


def test_a_task_the_scheduler_dropped_stops_the_batch_instead_of_recording_errors(a_job: Job) -> None:
    from grader.batch.cluster import ClusterError

    client = FakeClient({"tcp://w1": 1}, [CancelledError("grade-alice")])  # nobody but us cancels
    with pytest.raises(ClusterError, match="lost the Dask scheduler"):
        backend(client).grade(a_job)


def test_abandon_cancels_the_tasks_in_flight_and_submits_no_more(a_job: Job) -> None:
    client = FakeClient({"tcp://w1": 1}, [])
    e = backend(client)
    e._futures.add("f1")
    e.abandon()
    assert client.cancelled == ["f1"]
    with pytest.raises(CancelledError):
        e.grade(a_job)
    e.close()
    assert client.closed


@pytest.mark.parametrize(("args", "message"), [
    (["--cluster", " "], "--cluster needs the scheduler's address"),
    (["--cluster", "tcp://127.0.0.1:1", "--require-isolation", "Z"], "--require-isolation must be one of A, B, C"),
])
def test_cluster_without_address_or_with_a_bad_tier_is_a_usage_error(tmp_path: Path, capsys, args, message) -> None:
    from grader.cli import main

    assert main(["grade", *args, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_cluster_without_the_distributed_package_says_how_to_install_it(monkeypatch) -> None:
    from grader.batch.cluster import connect
    from grader.errors import UsageError

    monkeypatch.setitem(sys.modules, "distributed", None)  # what an install without the extra looks like
    with pytest.raises(UsageError, match=r"pip install 'grader\[cluster\]'"):
        connect("tcp://127.0.0.1:8786", 1)


@pytest.mark.slow
def test_an_unreachable_scheduler_is_a_usage_error_that_says_how_to_start_one() -> None:
    pytest.importorskip("distributed")
    from grader.batch.cluster import connect
    from grader.errors import UsageError

    with pytest.raises(UsageError, match=r"cannot reach the Dask scheduler at tcp://127.0.0.1:\d+ .*dask scheduler"):
        connect(f"tcp://127.0.0.1:{free_port()}", 1)


# --- a real cluster on loopback ----------------------------------------------------------------------------

DASK = Path(sys.executable).with_name("dask")
# timing-independent verdicts (tests/test_batch.py BATCH): a reference, a crash, a syntax error, wrong replies
CLASS = [("alice", "select_server", REPO / "reference" / "select_server"),
         ("alice", "nonblocking_server", REPO / "reference" / "nonblocking_server"),
         ("bob", "select_server", REPO / "tests" / "programs" / "select_server" / "crashes_at_start"),
         ("carol", "select_server", REPO / "tests" / "programs" / "select_server" / "syntax_error"),
         ("dave", "select_server", REPO / "tests" / "programs" / "select_server" / "fixed_reply"),
         ("dave", "nonblocking_server", REPO / "tests" / "programs" / "nonblocking_server" / "uses_select")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalDask:
    """A `dask scheduler` and `dask worker` processes (one thread each, no nanny: killing one kills it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.procs: dict[str, subprocess.Popen] = {}
        self._start("scheduler", [str(DASK), "scheduler", "--host", "127.0.0.1", "--port",
                                  self.address.rsplit(":", 1)[1], "--dashboard-address", ":0", "--no-show"])

    def _start(self, name: str, argv: list[str]) -> None:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - kept open for the process's life
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder,
                                            start_new_session=True)
        log.close()

    def add_worker(self, name: str) -> None:
        self._start(name, [str(DASK), "worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                           "--host", "127.0.0.1", "--name", name])

    def wait_for_workers(self, n: int) -> dict[str, str]:
        """{worker name: address} once n workers are connected."""
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(n, timeout=60)
            return {w["name"]: addr for addr, w in client.scheduler_info()["workers"].items()}

    def kill(self, name: str) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait(10)

    def close(self) -> None:
        for name in reversed(list(self.procs)):
            self.kill(name)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("distributed")
    cluster = LocalDask(tmp_path_factory.mktemp("dask"))
    try:
        cluster.add_worker("w1")
        cluster.add_worker("w2")
        cluster.workers = cluster.wait_for_workers(2)
        yield cluster
    finally:
        cluster.close()


def make_class(root: Path, runs=CLASS) -> Path:
    for student, assignment, program in runs:
        shutil.copytree(program, root / student / assignment, ignore=shutil.ignore_patterns("BUG.md", "__pycache__"))
    return root


def verdict_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return sorted(csv.DictReader(fh), key=lambda r: (r["student"], r["assignment"]))


def journal_runs(out: Path) -> Counter:
    """Runs per (student, assignment) in the journal (complete lines only: it may be being written)."""
    text = (out / "journal.jsonl").read_text(encoding="utf-8")
    lines = text.splitlines()[:text.count("\n")]
    return Counter(f"{m['student']}/{m['assignment']}" for m in map(json.loads, lines) if m["event"] == "run")


@pytest.mark.slow
def test_cluster_batch_gives_the_local_gradebook_and_says_which_worker_graded_what(dask_cluster, tmp_path) -> None:
    root = make_class(tmp_path / "subs")
    local = run_batch(COURSE, BatchConfig(root=root, layout="{student}/{assignment}", out=tmp_path / "local"))
    remote = run_batch(COURSE, BatchConfig(root=root, layout="{student}/{assignment}", out=tmp_path / "cluster",
                                           cluster=dask_cluster.address))
    assert not local.outcome.errors
    assert not remote.outcome.errors
    assert remote.outcome.done == len(CLASS)
    assert verdict_rows(tmp_path / "cluster") == verdict_rows(tmp_path / "local")
    workers = {r.worker for r in remote.results}
    assert workers <= set(dask_cluster.workers.values())
    assert len(workers) == 2  # both workers took runs
    # that a one-thread worker can grade several runs at once is proven without timing in
    # test_a_one_thread_worker_starts_its_next_task_while_the_first_waits (how many it does start is its start
    # gate's business: on a busy machine it holds starts, by design)
    md = (tmp_path / "cluster" / "report.md").read_text(encoding="utf-8")
    assert "## Where each run was graded" in md
    assert all(f"| {w} |" in md for w in workers)
    for side in ("local", "cluster"):  # every run's own files are written on this machine
        assert (tmp_path / side / "bob" / "select_server" / "feedback.md").is_file()
    scores = {side: json.loads((tmp_path / side / "bob" / "select_server" / "results.json").read_text())["score"]
              for side in ("local", "cluster")}
    assert scores["local"] == scores["cluster"]


@pytest.mark.slow
def test_a_killed_client_resumes_from_the_journal(dask_cluster, tmp_path) -> None:
    root = make_class(tmp_path / "subs", CLASS[:4])
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "grader.cli", "grade", str(root), "--cluster", dask_cluster.address,
            "--out", str(out), "--progress", "lines"]
    first = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
    deadline = time.monotonic() + 120
    while not ((out / "journal.jsonl").exists() and journal_runs(out)):
        assert time.monotonic() < deadline, "no run was journalled"
        assert first.poll() is None, first.stdout.read().decode()
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    first.stdout.close()
    done_before = sum(journal_runs(out).values())
    assert 1 <= done_before < 4
    again = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stdout + again.stderr  # failed behaviours, but no grader fault
    assert f"{done_before} already graded (journal)" in again.stdout
    assert journal_runs(out) == Counter({f"{s}/{a}": 1 for s, a, _p in CLASS[:4]})


@pytest.mark.slow
def test_require_isolation_is_enforced_on_each_worker(dask_cluster, tmp_path) -> None:
    # --sandbox plain is tier C on every worker: both refuse, and the run is recorded as not graded, with why
    root = make_class(tmp_path / "subs", CLASS[:1])
    report = run_batch(COURSE, BatchConfig(root=root, layout="{student}/{assignment}", out=tmp_path / "out",
                                           cluster=dask_cluster.address, sandbox="plain", require_isolation="A"))
    assert not report.outcome.errors
    (result,) = report.results
    assert {(b.status, b.reason) for b in result.behaviours} == {("error", "harness")}
    observed = result.behaviours[0].observed
    assert observed.startswith("failed on 2 cluster workers: worker tcp://127.0.0.1:")
    assert "isolation tier A required, but --sandbox plain is plain (tier C)" in observed
    assert set(result.worker.split(", ")) == set(dask_cluster.workers.values())


def is_session(p: psutil.Process) -> bool:
    """A grading session: started cold (`-p grader.session.plugin`) or forked by a warm starter (its cmdline)."""
    if "grader.session.plugin" in p.cmdline():
        return True
    parent = p.parent()
    return parent is not None and "grader.batch.warm" in parent.cmdline()


@pytest.mark.slow  # last: it kills worker w2 of the module's cluster
def test_a_killed_worker_leaves_every_run_graded_exactly_once(dask_cluster, tmp_path) -> None:
    root = make_class(tmp_path / "subs", CLASS[:3])
    out = tmp_path / "out"
    victim = psutil.Process(dask_cluster.procs["w2"].pid)
    sessions: list[psutil.Process] = []

    def kill_w2_once_it_grades() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not sessions:
            with contextlib.suppress(psutil.Error):
                sessions.extend(p for p in victim.children(recursive=True) if is_session(p))
            time.sleep(0.05)
        dask_cluster.kill("w2")

    killer = threading.Thread(target=kill_w2_once_it_grades, daemon=True)
    killer.start()
    report = run_batch(COURSE, BatchConfig(root=root, layout="{student}/{assignment}", out=out,
                                           cluster=dask_cluster.address))
    killer.join(10)
    assert sessions, "worker w2 never graded a run"
    assert not report.outcome.errors
    assert journal_runs(out) == Counter({f"{s}/{a}": 1 for s, a, _p in CLASS[:3]})
    assert {r.worker for r in report.results} == {dask_cluster.workers["w1"]}
    assert not any(b.status == "error" for r in report.results for b in r.behaviours)
    # the killed worker's grading session ended with it (its tether), leaving nothing behind
    gone, alive = psutil.wait_procs(sessions, timeout=15)
    assert not alive


def test_the_submission_digest_neither_follows_links_nor_reads_devices(tmp_path: Path) -> None:
    from grader.batch.discover import submission_digest

    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "server.py").write_text("print('hi')\n")
    clean = submission_digest(sub)
    (sub / "root").symlink_to("/")  # walking it would hash the machine
    (sub / "zero").symlink_to("/dev/zero")  # reading it would never end
    os.mkfifo(sub / "fifo")  # opening it would block
    hostile = submission_digest(sub)  # returns at once: nothing was followed, read or opened
    assert hostile != clean  # intake refuses these, so adding them is a change to grade again
    (sub / "zero").unlink()
    (sub / "zero").symlink_to("/dev/null")
    assert submission_digest(sub) != hostile  # a link is hashed by its target text
    (sub / "server.py").write_text("print('changed')\n")
    assert submission_digest(sub) not in (clean, hostile)


@pytest.mark.slow
@pytest.mark.parametrize("secedes", [True, False])
def test_a_one_thread_worker_starts_its_next_task_while_the_first_waits(dask_cluster, tmp_path, secedes) -> None:
    """A grading task leaves the worker's thread pool once it starts (remote._secede: its run mostly waits), so a
    one-thread worker starts its next task while the first still runs, as the local batch runs several per core.
    Two tasks on one worker meet at a barrier: with secede both are there at once; without it the second
    starts only after the first gave up waiting (the proof fails the other way). No timing is judged."""
    from distributed import Client

    barrier = tmp_path / "barrier"
    barrier.mkdir()
    patience = 60.0 if secedes else 3.0

    def task(i: int) -> int:
        import time as clock

        from grader.batch import remote

        if secedes:
            remote._secede()
        (barrier / str(i)).touch()
        deadline = clock.monotonic() + patience
        while len(list(barrier.iterdir())) < 2 and clock.monotonic() < deadline:
            clock.sleep(0.02)
        return len(list(barrier.iterdir()))  # how many had arrived when this one stopped waiting

    worker = dask_cluster.workers["w1"]
    with Client(dask_cluster.address, timeout=30, set_as_default=False) as client:
        futures = [client.submit(task, i, workers=[worker], allow_other_workers=False, pure=False)
                   for i in range(2)]
        seen = sorted(f.result(timeout=120) for f in futures)
    assert seen == ([2, 2] if secedes else [1, 2])
