"""A warm interpreter that forks the batch's grading sessions, so a run does not pay for a cold start.

A fresh `python -m pytest ...` session spends ~0.3 s of CPU importing pytest, pydantic, psutil and the
grader, and ~0.2 s finalising its heap on exit, in every run: on a 2-core machine that is a third of a
run's CPU and most of its overhead (benchmarks/README.md). The batch therefore starts this server once:

    batch ──stdin/stdout (JSON lines)──► python -m grader.batch.warm      (imports everything, then waits)
                                              └─fork─► grading session   (pytest.main(argv), then _exit)

Each session is still its own process, started fresh for one (submission, assignment) run, in its own
session (setsid), with the environment, working folder and argv the runner gives it; nothing of a
previous run is in it (the server never runs a session itself, and forks only from its own single thread).
Student code still runs only in the sandboxes the session starts. If the batch dies, the server sees its
stdin close and exits; the sessions' tether (batch/tether.py) then interrupts them.

Protocol (one JSON object per line): batch → server {"event": "start", "id", "args", "cwd", "env",
"stdout", "stderr"} | {"event": "signal", "id", "signal"}; server → batch {"event": "ready", "pid"} |
{"event": "started", "id", "pid"} | {"event": "exit", "id", "code", "cpu"}. Unknown events are errors.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

PRELOAD = ("pytest", "pytest_timeout", "_pytest.junitxml", "_pytest.assertion.rewrite", "psutil", "pydantic",
           "grader.session.plugin", "grader.behaviour.engine", "grader.checks", "grader.spec", "grader.harness.context",
           "grader.sandbox", "grader.reporters.terminal", "grader.batch.tether")
OUTPUT_TAIL = 3000


# --- the server (its own process) -------------------------------------------------------------------------

def _preload() -> None:
    import importlib

    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    # the checks and sandbox tiers register and import lazily: pull in their modules too
    for package in ("grader.checks", "grader.sandbox"):
        mod = sys.modules.get(package)
        for path in getattr(mod, "__path__", []):
            for f in sorted(Path(path).glob("*.py")):
                if f.stem != "__init__" and f.stem != "launch":
                    with contextlib.suppress(Exception):
                        importlib.import_module(f"{package}.{f.stem}")
    # the interpreter submissions run with, found (and checked) once here rather than once per session; a
    # runtime that does not match raises again in the session, which reports it (grader/runtime.py)
    with contextlib.suppress(Exception):
        from grader.runtime import current

        current()


def _session(req: dict, server_pid: int, close_fds: list[int]) -> None:
    """In the forked child: become the grading session the runner asked for. Never returns."""
    code = 3
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL if sig != signal.SIGINT else signal.default_int_handler)
        for fd, path, flags in ((0, os.devnull, os.O_RDONLY),
                                (1, req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                                (2, req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
            new = os.open(path, flags, 0o600)
            if new != fd:
                os.dup2(new, fd)
                os.close(new)
        for fd in close_fds:  # the server's pipes (its stdin/stdout were replaced just above)
            if fd > 2:
                with contextlib.suppress(OSError):
                    os.close(fd)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        os.environ["GRADER_TETHER_PID"] = str(server_pid)  # the tether watches its real parent: us
        sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
        sys.argv = ["pytest", *req["args"]]
        import pytest

        code = int(pytest.main(req["args"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 3
    except BaseException:  # noqa: BLE001 - report it the way a crashed session would
        import traceback

        traceback.print_exc()
        code = 3
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)  # no interpreter finalisation: the results are on disk already


def serve() -> None:
    _preload()
    gc.collect()
    gc.freeze()  # the warm heap stays shared with the sessions (no copy-on-write from the collector)
    r_wake, w_wake = os.pipe()
    os.set_blocking(w_wake, False)
    signal.set_wakeup_fd(w_wake)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the batch decides; a Ctrl-C is not for us
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    me = os.getpid()
    children: dict[int, int] = {}  # pid -> request id

    def send(msg: dict) -> None:
        os.write(stdout, (json.dumps(msg) + "\n").encode())

    send({"event": "ready", "pid": me})
    buf = b""
    while True:
        ready, _, _ = select.select([stdin, r_wake], [], [])
        if r_wake in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(r_wake, 4096)
        while children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in children:  # cpu: the session's and its sandboxes' (all waited for), in seconds
                send({"event": "exit", "id": children.pop(pid), "code": os.waitstatus_to_exitcode(status),
                      "cpu": usage.ru_utime + usage.ru_stime})
        if stdin not in ready:
            continue
        chunk = os.read(stdin, 1 << 16)
        if not chunk:
            os._exit(0)  # the batch is gone (or done): the sessions' tethers end any left
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            req = json.loads(line)
            event = req.get("event")
            if event == "start":
                if threading.active_count() != 1:
                    raise RuntimeError("the warm starter must fork from a single thread")
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _session(req, me, [stdin, stdout, r_wake, w_wake])
                children[pid] = req["id"]
                send({"event": "started", "id": req["id"], "pid": pid})
            elif event == "signal":
                for pid, rid in list(children.items()):
                    if req.get("id") in (None, rid):
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(pid, req["signal"])
            else:
                raise ValueError(f"unknown event from the batch: {event!r}")


# --- the client (in the batch process) ----------------------------------------------------------------------

class StarterGone(RuntimeError):
    """The warm server died: the batch stops (a grader fault, never a student's failure)."""


@dataclass
class _Waiter:
    done: threading.Event = field(default_factory=threading.Event)
    pid: int | None = None
    code: int | None = None
    cpu: float = 0.0


class WarmStarter:
    """Starts grading sessions by fork from a warm server: a drop-in for the runner's fresh process
    (SessionOptions.starter). Thread-safe: the batch's workers call it at once."""

    def __init__(self, timeout: float = 60.0) -> None:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        env.pop("PYTEST_ADDOPTS", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "grader.batch.warm"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, start_new_session=True)
        self._ids = itertools.count(1)
        self.cpu_seconds = 0.0  # CPU used by the sessions run so far, their sandboxes included
        self._waiters: dict[int, _Waiter] = {}
        self._lock = threading.Lock()  # the waiters
        self._wlock = threading.Lock()  # writes to the server (never held while taking _lock)
        self._alive = True
        ready = threading.Event()
        self._reader = threading.Thread(target=self._read, args=(ready,), name="warm-starter", daemon=True)
        self._reader.start()
        if not ready.wait(timeout) or not self._alive:
            self.close()
            raise StarterGone("the warm session starter did not come up")

    def _read(self, ready: threading.Event) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            msg = json.loads(raw)
            event = msg.get("event")
            if event == "ready":
                ready.set()
                continue
            with self._lock:
                waiter = self._waiters.get(msg.get("id"))
            if waiter is None:
                continue
            if event == "started":
                waiter.pid = msg["pid"]
            elif event == "exit":
                waiter.code, waiter.cpu = msg["code"], msg.get("cpu", 0.0)
                with self._lock:
                    self.cpu_seconds += waiter.cpu
                waiter.done.set()
            else:
                raise ValueError(f"unknown event from the warm starter: {event!r}")
        self._alive = False
        ready.set()
        with self._lock:
            for waiter in self._waiters.values():
                waiter.done.set()

    def _send(self, msg: dict) -> None:
        assert self.proc.stdin is not None
        with self._wlock:
            if not self._alive:
                raise StarterGone("the warm session starter has exited")
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()

    def __call__(self, argv: list[str], env: dict[str, str], cwd: str, timeout: float) -> tuple[int | str, str]:
        """Run one grading session (argv: `python -m pytest ARGS...`) and wait; (exit code, output tail)."""
        args = argv[3:] if argv[1:3] == ["-m", "pytest"] else argv[1:]
        rid = next(self._ids)
        waiter = _Waiter()
        out, err = Path(cwd) / "session.stdout", Path(cwd) / "session.stderr"
        with self._lock:
            self._waiters[rid] = waiter
        try:
            self._send({"event": "start", "id": rid, "args": args, "cwd": cwd, "env": env,
                        "stdout": str(out), "stderr": str(err)})
            code: int | str
            if waiter.done.wait(timeout):
                if waiter.code is None:
                    raise StarterGone("the warm session starter died while a session ran")
                code = waiter.code
            else:
                self._send({"event": "signal", "id": rid, "signal": int(signal.SIGKILL)})
                waiter.done.wait(10)
                code = f"killed after {timeout:.0f} s"
        finally:
            with self._lock:
                self._waiters.pop(rid, None)
        return code, _tail(out) + _tail(err)

    def interrupt_all(self) -> None:
        """SIGINT every session in flight (the batch abandons them)."""
        with contextlib.suppress(StarterGone, OSError, ValueError):
            self._send({"event": "signal", "id": None, "signal": int(signal.SIGINT)})

    def close(self) -> None:
        with self._wlock:
            self._alive = False
            with contextlib.suppress(OSError, ValueError):
                if self.proc.stdin:
                    self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - OUTPUT_TAIL))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


if __name__ == "__main__":
    serve()
