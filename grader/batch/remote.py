"""The worker side of `grader grade --cluster`: one task grades one (student, assignment) run.

A Dask worker imports this module (the grader is installed there) and calls `grade_task(task)`. The task
is plain data: the submission and the assignment folder as packed bytes (batch/pack.py), the course's
settings and the run options. The reply is plain, JSON-safe data too — never a pickled grader object:

    task  = {"v": 1, "student", "assignment", "submission": bytes, "assignment_files": bytes,
             "course": {grader.yaml as a dict}, "sandbox", "jobs", "seed", "run_as", "require_isolation",
             "language" (of the messages: the instructor's, set once where the batch started)}
    reply = {"v": 1, "status": "graded" | "refused" | "error", "worker", "host", "tier",
             "result": {SubmissionResult} | None, "why": str}

"refused": this worker's isolation tier is below `require_isolation` (the run is not graded here);
"error": the grading call raised on this worker. The instructor's machine decides what to do with both
(batch/cluster.py: try another worker once, then a harness-error result).

The worker grades like the local batch does: a grading session per run, in the best sandbox the worker
offers, in its own process group and tethered to the worker process (a killed worker takes its sessions
with it); servers of a tier that shares the host's port go one at a time on that worker; and the worker's
own start gate spaces run starts out and holds them while its CPU is oversubscribed. A run mostly waits, so
a task leaves the worker's thread pool once it starts (`distributed.secede`): a worker started with its
defaults (a thread per core) grades as many runs at once as the local batch would on that machine (the
instructor's side admits that many per worker, cluster.runs_per_worker; this side never starts more).
A worker that dies takes its tasks with it: Dask gives them to another worker, and the instructor's journal
holds every run that came back. Sessions are forked
from a warm interpreter the worker starts with its first task (batch/warm.py), as in the local batch.
"""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from grader.batch.pack import unpack
from grader.batch.warm import StarterGone

if TYPE_CHECKING:
    from grader.batch.warm import WarmStarter
    from grader.sandbox import Tier

VERSION = 1
_lock = threading.Lock()
_admission = threading.Lock()
_serial = threading.Lock()  # one server at a time on this worker, when its tier shares the host's port
_gate = None
_in_flight = 0
# this worker's warm session starter (batch/warm.py), started with its first task; False: it cannot start
_starter: WarmStarter | Literal[False] | None = None


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):  # not on a Dask worker (tests call grade_task directly)
        return f"local:{socket.gethostname()}"


def _secede() -> None:
    """Leave the Dask worker's thread pool (this task mostly waits): the worker can start its next task."""
    try:
        from distributed import get_worker, secede

        get_worker()
    except (ImportError, ValueError):  # not on a Dask worker (tests call grade_task directly)
        return
    secede()


def _admit() -> None:
    """Wait for this worker's start gate and for room (no more runs at once than the local batch would
    grade here), unless nothing is graded here right now (always progress)."""
    global _gate, _in_flight
    from grader.batch.gate import StartGate, cpu_count
    from grader.batch.scheduler import default_workers

    cap = default_workers(cpus=cpu_count())
    with _admission:  # one waiting start at a time, as in the local scheduler
        with _lock:
            if _gate is None:
                _gate = StartGate()
        while True:
            with _lock:
                idle, full = _in_flight == 0, _in_flight >= cap
            if idle or (not full and _gate.may_start()):
                break
            if full:
                time.sleep(StartGate.TICK)
        with _lock:
            _in_flight += 1
        _gate.started()


def _warm_starter() -> WarmStarter | None:
    """The worker's warm starter, or None (cold sessions) where it cannot start. Never closed: it exits
    when the worker process does (its stdin closes), and the sessions' tethers then end them."""
    global _starter
    from grader.batch.warm import WarmStarter

    with _lock:
        if _starter is None:
            try:
                _starter = WarmStarter()
            except (StarterGone, OSError):
                _starter = False
        return _starter or None


def _forget_starter() -> None:
    global _starter
    with _lock:
        _starter = None


def _leave() -> None:
    global _in_flight
    with _lock:
        _in_flight -= 1


@functools.lru_cache(maxsize=8)
def _worker_tier(force: str | None) -> Tier:
    """This worker's tier for tasks that ask for `force` (None: the best): chosen and proven once per worker
    process, then passed down to each task's grading session as a value."""
    from grader.sandbox import choose_sandbox

    return choose_sandbox(force, announce=False)


def grade_task(task: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = {"v": VERSION, "status": "error", "worker": _worker_name(),
                             "host": socket.gethostname(), "tier": "", "result": None, "why": ""}
    _secede()
    try:
        if task.get("v") != VERSION:
            raise ValueError(f"task format {task.get('v')!r}, this worker's grader speaks {VERSION} "
                             "(install the same grader version on the workers)")
        from grader.errors import UsageError
        from grader.sandbox import require_level

        try:
            sandbox = _worker_tier(task.get("sandbox"))
            if task.get("require_isolation"):
                require_level(sandbox, task["require_isolation"])
        except UsageError as exc:
            reply.update(status="refused", why=f"worker {reply['worker']}: {exc}")
            return reply
        reply["tier"] = sandbox.tier
        reply["result"] = _grade(task, sandbox)
        reply["status"] = "graded"
    except Exception as exc:  # noqa: BLE001 - said to the instructor's machine, which records it
        reply["why"] = f"worker {reply['worker']}: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
    return reply


def _grade(task: dict[str, Any], sandbox: Any) -> dict[str, Any]:
    from grader.session.runner import SessionOptions, grade
    from grader.spec import load_course, load_spec

    with tempfile.TemporaryDirectory(prefix="grader-task-") as tmp:
        root = Path(tmp) / "course"
        root.mkdir()
        course_cfg = {**task["course"], "assignments_dir": "assignments"}
        (root / "grader.yaml").write_text(json.dumps(course_cfg), encoding="utf-8")  # JSON is YAML
        course = load_course(root / "grader.yaml")
        folder = unpack(task["assignment_files"], root / "assignments" / task["assignment"])
        spec = load_spec(folder / "assignment.yaml")
        submission = unpack(task["submission"], Path(tmp) / "submission")
        shares_port = sandbox.shares_host_port and spec.kind == "server"
        options = SessionOptions(jobs=1 if shares_port else int(task.get("jobs") or 0), tier=sandbox,
                             seed=task.get("seed"), run_as=task.get("run_as"), detached=True,
                             language=task.get("language") or "en",
                             starter=_warm_starter())
        _admit()
        try:
            with _serial if shares_port else contextlib.nullcontext():
                result = grade(spec, submission, course, options, student=task["student"])
        except StarterGone:
            _forget_starter()  # the next task starts a new one
            raise
        finally:
            _leave()
        return result.model_dump(mode="json")
