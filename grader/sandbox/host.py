"""What the tiers share about this machine: the cgroup layout, where the interpreters live, the submission's
scratch copy and environment, the launcher's command line, client sockets in a run's network namespace,
and the host port a tier without its own network must find free. Imports no tier and no run.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import os
import queue
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from grader.errors import UsageError
from grader.runtime import current, student_python
from grader.sandbox import intake
from grader.sandbox.cgroup import detect
from grader.sandbox.standalone import LAUNCHER
from grader.sandbox.types import Launch

if TYPE_CHECKING:
    from grader.sandbox.cgroup import CgroupLayout, RunCgroup

TCP_HASH = 1024  # buckets of a run's own TCP hash table (launch.py own_tcp_hash): cheap /proc/net/tcp reads
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_cgroups: CgroupLayout | Literal[False] | None = None  # None: not detected yet; False: none here
_cgroups_lock = threading.Lock()


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def cgroup_layout() -> CgroupLayout | None:
    """The machine's cgroup layout, detected once (None when not root / not Linux)."""
    global _cgroups
    with _cgroups_lock:
        if _cgroups is None:
            _cgroups = detect() if sys.platform == "linux" and is_root() else False
        return _cgroups or None


@functools.cache
def python_paths() -> tuple[str, ...]:
    """Directories the interpreters (the grader's and the submissions', grader/runtime.py) and their venvs
    (gevent) live in; they must be readable in a sandbox. The same for the whole process: worked out once."""
    rt = current()
    candidates = [sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))]
    if rt.venv is not None:
        candidates += [str(rt.venv), os.path.dirname(os.path.realpath(rt.python))]
    out: list[str] = []
    for p in candidates:
        p = os.path.realpath(p)
        if not any(p == q or p.startswith(q + "/") for q in out):
            out = [q for q in out if not q.startswith(p + "/")] + [p]
    return tuple(out)


def netns_problem(quick: bool = False) -> str | None:
    """None if this machine can give each run its own namespaces as root, else why not."""
    if sys.platform != "linux":
        return f"network namespaces are Linux-only (this is {sys.platform})"
    if not is_root():
        return "not running as root"
    if quick:
        return None
    probe = subprocess.run([sys.executable, "-I", "-S", str(LAUNCHER), "--netns", "--pidns", "--", "/bin/true"],
                           capture_output=True, text=True, timeout=10, check=False)
    if probe.returncode != 0:
        return f"creating a namespace failed: {probe.stderr.strip() or probe.returncode}"
    return None


def prepare_scratch(launch: Launch, readable: bool = False) -> Path:
    """A private copy of the submission: the run never touches the original folder (grader/sandbox/intake.py
    copies it without following links or opening special files, within caps)."""
    return intake.prepare(launch.submission, readable=readable or launch.run_as is not None)


def submission_env(launch: Launch, pythonpath: list[str] | None = None) -> dict[str, str]:
    """A minimal environment: nothing of the grader's (no secrets, no PYTHONPATH of ours). GRADER_RUN marks
    the run's processes (tier C finds escaped ones by it). One locale (LANG=C.UTF-8, no LANGUAGE/LC_*) whatever
    the grader's language (grader/i18n.py): the program's own messages never change with it."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp",  # noqa: S108 - the sandbox's own /tmp
           "GRADER_RUN": secrets.token_hex(6)}
    paths = pythonpath if pythonpath is not None else [str(p) for p in launch.pythonpath]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(launch.env)
    return env


def unprivileged(uid: tuple[int, int] | None) -> tuple[int, int] | None:
    if uid is not None and (uid[0] == 0 or uid[1] == 0):
        raise UsageError("submissions must not run as root: give --run-as an unprivileged user, or leave it out "
                         "(as root the grader then uses a separate uid for each parallel run)")
    return uid


def launcher_argv(launch: Launch, scratch: Path, *modes: str, cgroup: RunCgroup | None = None,
                  uid: tuple[int, int] | None = None, extra: list[str] | None = None) -> list[str]:
    lim = launch.limits
    uid = unprivileged(uid)
    argv = [sys.executable, "-I", "-S", str(LAUNCHER), *modes, "--tcp-hash", str(TCP_HASH)]
    if cgroup is not None:
        for procs_file in cgroup.join_paths:
            argv += ["--cgroup-procs", str(procs_file)]
    argv += ["--nofile", str(lim.nofile), "--fsize", str(lim.fsize_bytes), "--cpu", str(lim.cpu_seconds),
             "--cwd", str(scratch / "sub")]
    if uid is not None:
        argv += ["--uid", str(uid[0]), "--gid", str(uid[1])]
        for p in [*python_paths(), *(str(p) for p in launch.pythonpath), str(scratch)]:
            argv += ["--expose", p]
    argv += extra or []
    argv += ["--", student_python(), launch.entry]
    return argv


class NetnsSockets:
    """A thread living in the run's network namespace that makes sockets on request (needs root)."""

    def __init__(self, ns_path: str, open_ns: Callable[[str], int] | None = None) -> None:
        # (family, where to put the socket or the error); None: stop
        self._requests: queue.Queue[tuple[int, queue.Queue[socket.socket | OSError]] | None] = queue.Queue()
        self._ready = threading.Event()
        self._error: OSError | None = None
        self._open_ns = open_ns or (lambda path: os.open(path, os.O_RDONLY))
        self._thread = threading.Thread(target=self._serve, args=(ns_path,), daemon=True, name="netns")
        self._thread.start()
        self._ready.wait(5)
        if self._error:
            raise self._error

    def _serve(self, ns_path: str) -> None:
        try:
            fd = self._open_ns(ns_path)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, f"setns({ns_path}): {os.strerror(e)}")
            finally:
                os.close(fd)
        except OSError as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        while True:
            item = self._requests.get()
            if item is None:
                return
            family, reply = item
            try:
                reply.put(socket.socket(family, socket.SOCK_STREAM))
            except OSError as exc:
                reply.put(exc)

    def socket(self, family: int) -> socket.socket:
        reply: queue.Queue[socket.socket | OSError] = queue.Queue(maxsize=1)
        self._requests.put((family, reply))
        got = reply.get(timeout=5)
        if isinstance(got, Exception):
            raise got
        return got

    def close(self) -> None:
        self._requests.put(None)


def port_lock(address: tuple[str, int]) -> BinaryIO:
    path = Path(tempfile.gettempdir()) / f"grader-port-{address[1]}.lock"
    # read-only is enough for flock, and works on a lock file another user (e.g. root) created
    fh = os.fdopen(os.open(path, os.O_RDONLY | os.O_CREAT, 0o644), "rb")  # held until _on_stopped
    fcntl.flock(fh, fcntl.LOCK_EX)
    return fh


def require_free(address: tuple[str, int]) -> None:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"port {address[1]} on {address[0]} is already in use by another program, so the submission "
                    f"could not be given it. Stop that program (e.g. a server you left running: "
                    f"`lsof -i :{address[1]}` or `ss -ltnp 'sport = :{address[1]}'` shows it) and try again."
                ) from None
            raise
