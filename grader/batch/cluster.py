"""`grader grade --cluster tls://HOST:PORT`: the batch's runs as tasks on a Dask distributed cluster.

Only this module imports `distributed` (pip install 'grader[cluster]'), and only when --cluster is given.
The instructor's machine keeps everything that makes a batch resumable — discovery, the journal, the
results.json / feedback.md of each run, the gradebook and the reports — so an interrupted cluster batch
resumes exactly like a local one. What crosses to a worker is plain data (batch/remote.py): the
submission and the assignment folder as packed bytes, the course settings, the run options; what comes
back is a JSON-safe dict, validated here into a SubmissionResult.

Failures: Dask itself reruns a task whose worker died mid-run on another worker (the result arrives once,
so it is recorded once). A task that fails on its own — the future raises (e.g. KilledWorker), the worker's
grading raised, or the worker's tier is below --require-isolation — is tried once more on another worker;
a second failure becomes a harness-error result for that run, with both reasons: never lost. Losing the
scheduler stops the batch (a ClusterError): what finished is journalled, the rest is graded on resume.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import CancelledError  # what distributed raises for a cancelled future
from typing import Any

from grader.batch.gate import Gate
from grader.batch.pack import pack
from grader.batch.remote import VERSION, grade_task
from grader.batch.scheduler import Job, harness_error_result
from grader.batch.security import TLSFiles, check_address, make_security
from grader.errors import GraderError, UsageError
from grader.results import SubmissionResult
from grader.sandbox.intake import SubmissionRejected, caps_of
from grader.spec import Course, Spec

CONNECT_TIMEOUT = 20.0  # seconds to reach the scheduler and see a first worker
ATTEMPTS = 2
MAX_IN_FLIGHT = 512  # threads of the batch waiting on tasks; the cluster's capacity decides below it
POLL = 2.0  # seconds between looks at the connection while a task runs


class ClusterError(GraderError):
    """The cluster itself is unusable (scheduler gone): the batch stops; rerun the command to resume."""

    exit_code = 1


class ClusterBackend:
    """Grades each run as a Dask task (see the module docstring)."""

    def __init__(self, course: Course, address: str, *, sandbox: str | None = None, jobs: int = 0,
                 seed: int | None = None, run_as: str | None = None, require_isolation: str | None = None,
                 client: Any = None, connect_timeout: float = CONNECT_TIMEOUT, tls: TLSFiles | None = None,
                 insecure: bool = False) -> None:
        self.course, self.address = course, address
        from grader import i18n

        self.options: dict[str, Any] = {"sandbox": sandbox, "jobs": jobs, "seed": seed, "run_as": run_as,
                        "require_isolation": require_isolation, "language": i18n.language()}
        self.client = client if client is not None else connect(address, connect_timeout, tls=tls,
                                                                insecure=insecure)
        self.where = f"Dask cluster {address}"  # each result records its worker's own tier
        self._assignment_files: dict[str, bytes] = {}
        self._course = course.model_dump(mode="json")
        self._lock = threading.Lock()
        self._futures: set[Any] = set()
        self._abandoned = False
        self.admitted = 0  # runs the scheduler let start and that have not returned yet

    # --- what the controller asks ---------------------------------------------------------------------------
    def workers(self, specs: dict[str, Spec]) -> int:
        """The most runs ever in flight; how many really are is the cluster's capacity now (gate)."""
        return MAX_IN_FLIGHT

    def capacity(self) -> int:
        """Runs the workers connected now grade at once: on each, as many as the local batch would on that
        machine (its threads are its cores: `dask worker ADDR` defaults), since a run mostly waits and each
        worker's own start gate keeps its CPU from being oversubscribed (remote.py). Workers may join (a
        Slurm job starting) or leave during a batch."""
        info = self.client.scheduler_info()
        return max(1, sum(runs_per_worker(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))

    def gate(self) -> Gate | None:
        return ClusterCapacity(self)  # and on each worker, its own start gate paces its runs (remote.py)

    def one_at_a_time(self, job: Job) -> bool:
        return False  # a worker whose tier shares the host's port serialises its own servers

    def grade(self, job: Job) -> SubmissionResult:
        try:
            return self._grade(job)
        finally:
            with self._lock:
                self.admitted -= 1

    def _grade(self, job: Job) -> SubmissionResult:
        try:
            task = self.task(job)
        except SubmissionRejected:
            return self._rejected_here(job)
        failures: list[str] = []
        tried: list[str] = []
        for _attempt in range(ATTEMPTS):
            reply = self._run(task, job, avoid=tried)
            if reply.get("status") == "graded":
                return self.result_of(job, reply)
            tried.append(reply.get("worker", ""))
            failures.append(reply.get("why") or f"status {reply.get('status')!r}")
        why = " | then: ".join(f.strip() for f in failures)
        result = harness_error_result(job, f"failed on {len(failures)} cluster workers: {why}")
        return result.model_copy(update={"worker": ", ".join(w for w in tried if w)})  # graded in no tier

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            futures = list(self._futures)
        if futures:
            self.client.cancel(futures)  # runs already started on a worker finish there, unrecorded

    def close(self) -> None:
        self.client.close()

    # --- tasks ----------------------------------------------------------------------------------------------
    def task(self, job: Job) -> dict[str, Any]:
        name = job.spec.name
        if name not in self._assignment_files:
            self._assignment_files[name] = pack(job.spec.path.parent)
        return {"v": VERSION, "student": job.submission.student, "assignment": name,
                "submission": pack(job.submission.path, caps_of(self.course.defaults)),
                "assignment_files": self._assignment_files[name],
                "course": self._course, **self.options}

    def _rejected_here(self, job: Job) -> SubmissionResult:
        """A submission intake refuses never travels: the local session rejects it the same way a worker's
        would (every behaviour `submission_rejected`, nothing run), so the gradebook does not depend on
        where it was graded."""
        from grader.session.runner import SessionOptions, grade

        local = {k: v for k, v in self.options.items() if k not in ("require_isolation", "sandbox")}
        opts = SessionOptions(**local)  # the best tier here: intake refuses before anything runs in it
        result = grade(job.spec, job.submission.path, self.course, opts, student=job.submission.student)
        return result.model_copy(update={"worker": "(rejected at intake, on this machine)"})

    def _run(self, task: dict[str, Any], job: Job, avoid: list[str]) -> dict[str, Any]:
        """One attempt: the worker's reply, or a failure reply made here when the future raised."""
        kwargs: dict[str, Any] = {}
        others = [w for w in self.client.scheduler_info().get("workers", {}) if w not in avoid]
        if avoid and others:
            kwargs = {"workers": others, "allow_other_workers": False}
        key = f"grade-{job.submission.student}-{job.spec.name}-{uuid.uuid4().hex[:8]}"
        with self._lock:
            if self._abandoned:
                raise CancelledError(key)
            self._check_connected()
            future = self.client.submit(grade_task, task, key=key, pure=False, **kwargs)
            self._futures.add(future)
        try:
            reply = self._wait(future)
        except Exception as exc:  # noqa: BLE001 - sorted below: ours, the cluster's, or this attempt's
            if self._abandoned:
                raise CancelledError(key) from None
            # Nobody but us cancels a task: a cancelled future means the scheduler lost it (it went away)
            if isinstance(exc, CancelledError) or self.client.status != "running":
                raise self._lost(exc) from None
            return {"status": "error", "worker": "", "why": f"{type(exc).__name__}: {exc}"}  # e.g. KilledWorker
        finally:
            with self._lock:
                self._futures.discard(future)
        if not isinstance(reply, dict) or reply.get("v") != VERSION:
            return {"status": "error", "worker": "", "why": f"unexpected reply from a worker: {reply!r:.200}"}
        return reply

    def _wait(self, future: Any) -> Any:
        """The future's result; a client that is no longer connected is noticed within POLL seconds (a
        closed client may never resolve its futures)."""
        while True:
            try:
                return future.result(timeout=POLL)
            except TimeoutError:
                if self._abandoned:
                    raise CancelledError() from None
                self._check_connected()

    def _check_connected(self) -> None:
        if self.client.status not in ("running", "connecting"):
            raise self._lost(None)

    def _lost(self, exc: BaseException | None) -> ClusterError:
        why = f" ({type(exc).__name__}: {exc})" if exc is not None and str(exc) else ""
        return ClusterError(f"lost the Dask scheduler at {self.address}{why}; the runs that finished are "
                            "journalled: start the scheduler and its workers again and rerun the same command "
                            "to continue")

    def result_of(self, job: Job, reply: dict[str, Any]) -> SubmissionResult:
        """The worker's plain result, as this machine records it (its own paths, the worker's name)."""
        result = SubmissionResult.model_validate(reply["result"])
        return result.model_copy(update={"submission": str(job.submission.path), "student": job.submission.student,
                                         "worker": reply.get("worker", "")})


def runs_per_worker(nthreads: int) -> int:
    """Runs graded at once on a worker with `nthreads` threads (= its cores by default): the local default."""
    from grader.batch.scheduler import default_workers

    return default_workers(cpus=max(1, int(nthreads)))


class ClusterCapacity:
    """Admits a run while the cluster has room for one (runs_per_worker on each worker), so that a first
    Ctrl-C leaves nothing queued at the Dask scheduler and workers that join later are used as soon as they
    connect."""

    TICK = 0.1
    held_seconds = 0.0  # waiting for a free worker thread is normal here, not a crowded machine
    busy_notice = None

    def __init__(self, backend: ClusterBackend, sleep=time.sleep) -> None:
        self.backend, self._sleep = backend, sleep

    def may_start(self) -> bool:
        with self.backend._lock:
            admitted = self.backend.admitted
        if admitted < self.backend.capacity():
            return True
        self._sleep(self.TICK)
        return False

    def started(self) -> None:
        with self.backend._lock:
            self.backend.admitted += 1

    def close(self) -> None: ...


def connect(address: str, timeout: float, *, tls: TLSFiles | None = None, insecure: bool = False) -> Any:
    """A Dask client of the scheduler at `address`, once it has a worker. The address guard comes first
    (batch/security.py: plain tcp:// beyond loopback is refused before anything is resolved or sent); a
    tls:// address gets mutual TLS with encryption required."""
    check_address(address, insecure=insecure)
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--cluster needs the Dask distributed package: pip install 'grader[cluster]' (on this "
                         "machine and on every worker)") from None
    security = make_security(address, tls)
    # Losing the scheduler is said once, by the batch (ClusterError): not as the client's tracebacks too
    for name in ("distributed.client", "distributed.core", "distributed.comm.tcp"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        client = Client(address, timeout=timeout, set_as_default=False, security=security)
    except (OSError, TimeoutError) as exc:
        raise UsageError(unreachable(address, exc, tls=security is not None)) from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError):
        client.close()
        raise UsageError(f"the Dask scheduler at {address} has no workers; start one on each grading machine "
                         f"with `dask worker {address}` (docs/batch.md)") from None
    return client


def unreachable(address: str, exc: BaseException, *, tls: bool) -> str:
    from grader.i18n import _

    if not tls:
        return _("cannot reach the Dask scheduler at {address} ({error}); start one with `dask scheduler` and its "
                 "workers with `dask worker ADDRESS` (docs/batch.md)").format(address=address, error=exc)
    return _("cannot reach the Dask scheduler at {address} over TLS ({error}): is it running, started with "
             "--protocol tls and certificates from the same course CA as --tls-ca-file / --tls-cert? (`grader "
             "cluster certs` prints the commands; docs/batch.md)").format(address=address, error=exc)
