"""Helpers every tier shares, and two tiers that need nothing but the kernel and the launcher.

* `NetnsSandbox` (B/netns: root Linux without bubblewrap): each run in its own network + pid namespace
  (launch.py), as its own slot uid, in a cgroup with limits where the machine has one. The grader reaches
  the server through a helper thread that setns()es into the run's network namespace and creates client
  sockets there; the socket keeps its namespace, so any thread may use it afterwards. The host filesystem
  stays readable to the submission (that is what tier A adds).
* `PlainSandbox` (C/plain: anything else): a plain process in its own session on the real port, under a
  launcher that is its child subreaper (Linux), so a double-forked daemon is still found and killed. Runs
  on one address are serialised across processes by a lock file.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from grader.errors import UsageError
from grader.i18n import _
from grader.runtime import current, student_python
from grader.sandbox import Launch, is_root
from grader.sandbox.run import Run, kill_pids
from grader.sandbox.tier import Held, Tier

LAUNCHER = Path(__file__).with_name("launch.py")
TCP_HASH = 1024  # buckets of a run's own TCP hash table (launch.py own_tcp_hash): cheap /proc/net/tcp reads
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_cgroups = None
_cgroups_lock = threading.Lock()


def cgroup_layout():
    """The machine's cgroup layout, detected once (None when not root / not Linux)."""
    global _cgroups
    from grader.sandbox.cgroup import detect

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
    from grader.sandbox import intake

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


def launcher_argv(launch: Launch, scratch: Path, *modes: str, cgroup=None, uid: tuple[int, int] | None = None,
                  extra: list[str] | None = None) -> list[str]:
    lim = launch.limits
    uid = unprivileged(uid)
    argv = [sys.executable, "-I", "-S", str(LAUNCHER), *modes, "--tcp-hash", str(TCP_HASH)]
    if cgroup is not None:
        for p in cgroup.join_paths:
            argv += ["--cgroup-procs", str(p)]
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

    def __init__(self, ns_path: str, open_ns=None) -> None:
        self._requests: queue.Queue = queue.Queue()
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
        reply: queue.Queue = queue.Queue(maxsize=1)
        self._requests.put((family, reply))
        got = reply.get(timeout=5)
        if isinstance(got, Exception):
            raise got
        return got

    def close(self) -> None:
        self._requests.put(None)


class NamespacedRun(Run):
    """launcher/bwrap -> init (pid 1 of the run's pid namespace) -> main, reached through setns()."""

    def __init__(self, popen, scratch, limits, t0, cgroup=None) -> None:
        super().__init__(popen, scratch, limits, t0)
        self.cgroup = cgroup
        self._pidns: str | None = None
        self._sockets: NetnsSockets | None = None
        self._find_main()
        self._start_monitor()

    def _on_found(self) -> None:
        try:
            self._setup_sockets()
        except OSError:
            pass  # it died already, or setns() is not allowed here: socket() says so
        self._read_pidns(self.observer)

    def _read_pidns(self, observer) -> None:
        if self._pidns is None and self._init is not None:
            try:  # needs ptrace access to init: root with CAP_SYS_PTRACE, or the observer as the run's uid
                self._pidns = observer.readlink(f"/proc/{self._init}/ns/pid")
            except OSError:
                pass

    def _setup_sockets(self) -> None:
        self._sockets = NetnsSockets(f"/proc/{self._init}/ns/net", self._open_ns)

    def _open_ns(self, path: str) -> int:
        try:
            return os.open(path, os.O_RDONLY)
        except PermissionError:  # root without CAP_SYS_PTRACE: the run's own uid may open it
            return self.observer.open_fd(path)

    def socket(self, family: int = socket.AF_INET) -> socket.socket:
        if self._sockets is None:
            self._try_find()
        if self._sockets is None and self._init is not None:
            try:  # found before the tier attached its observer: try again with it
                self._setup_sockets()
            except OSError:
                pass
        if self._sockets is None:
            raise OSError(errno.ENETUNREACH, "the submission's network namespace is gone or cannot be entered")
        return self._sockets.socket(family)

    def _kill_without_cgroup(self) -> None:
        # SIGKILL of the namespace's init makes the kernel kill every process in the pid namespace; the
        # launcher then reaps init and exits by itself (stop() kills it if it does not).
        self._read_pidns(self.observer)
        if self._init is not None:
            kill_pids([self._init])
        else:
            kill_pids([self.popen.pid])

    def _leftovers_without_cgroup(self) -> list[int]:
        if self._pidns is None:
            return []
        try:
            return self.observer.pids_in_pidns(self._pidns)
        except Exception:  # noqa: BLE001 - an observer that died: fall back to what we can read here
            from grader.sandbox import procfs

            return procfs.pids_in_pidns(self._pidns, os.getpid())

    def _on_stopped(self) -> None:
        if self._sockets:
            self._sockets.close()


class NetnsRun(NamespacedRun):
    tier = "netns (tier B)"


class NetnsSandbox(Tier):
    name, level = "netns", "B"
    per_run_uid = True

    def __init__(self, fallback_reason: str | None = None, observe: str = "auto") -> None:
        super().__init__(fallback_reason, observe)
        layout = cgroup_layout()
        self._layout = layout if layout is not None and layout.v2 is not None else None
        self.cgroup_limits = bool(self._layout and self._layout.limits)
        limits = _("cgroup limits ({kind})").format(kind=self._layout.kind) if self._layout and self._layout.limits \
            else _("limits by rlimits and polling")
        self.description = _("own network and pid namespace and uid per run, {limits}; the host filesystem is "
                             "readable").format(limits=limits)

    @classmethod
    def problem(cls, quick: bool = False) -> str | None:
        return netns_problem(quick)

    def _spawn(self, launch: Launch, held: Held) -> Run:
        from grader.sandbox.cgroup import RunCgroup

        lim = launch.limits
        uid = held.slot_uid(launch, needed=True)
        scratch = prepare_scratch(launch, readable=True)
        held.add(lambda: shutil.rmtree(scratch, ignore_errors=True))
        cg = None
        if self._layout is not None:
            cg = RunCgroup.create(self._layout, memory_bytes=lim.memory_bytes, processes=lim.processes,
                                  cpus=lim.cpus)
            held.add(cg.remove)
        t0 = time.monotonic()
        popen = subprocess.Popen(launcher_argv(launch, scratch, "--netns", "--pidns", cgroup=cg, uid=uid),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=submission_env(launch), start_new_session=True)
        return NetnsRun(popen, scratch, lim, t0, cgroup=cg)


class PlainRun(Run):
    tier = "plain (tier C)"
    init_is_popen = True  # the launcher is the child subreaper

    def __init__(self, popen, scratch, limits, t0, marker: str, uid: int) -> None:
        super().__init__(popen, scratch, limits, t0)
        self._marker = marker
        self._uid = uid
        self._find_main()
        self._start_monitor()

    def _tree(self) -> list[int]:
        """The launcher's descendants (on Linux it is their child subreaper, so daemons stay among them),
        plus, without a subreaper (macOS), whatever is in the run's session or carries its marker. Only what
        is verifiably the run's NOW: a pid seen earlier may belong to someone else by the time we kill."""
        pids: set[int] = set()
        try:
            pids.update(p.pid for p in psutil.Process(self.popen.pid).children(recursive=True))
        except psutil.Error:
            pass
        for p in psutil.process_iter(["pid"]):
            try:
                if p.pid in pids or p.uids().real != self._uid:
                    continue
                if os.getsid(p.pid) in (self.popen.pid, self._main) or \
                        p.environ().get("GRADER_RUN") == self._marker:
                    pids.add(p.pid)
            except (OSError, psutil.Error):
                continue
        pids.discard(os.getpid())
        return sorted(pids)

    def _kill_without_cgroup(self) -> None:
        # Everything but the launcher: as the child subreaper it reaps what we kill (and what their deaths
        # orphan), then exits by itself once main is gone (stop() kills it if it does not).
        launcher = self.popen.pid if self.popen.poll() is None and sys.platform == "linux" else None
        if self._main:
            try:
                os.killpg(self._main, signal.SIGKILL)
            except OSError:
                pass
        kill_pids([p for p in self._tree() if p != launcher])

    def _leftovers_without_cgroup(self) -> list[int]:
        left = []
        for pid in self._tree():
            try:
                p = psutil.Process(pid)
                if p.status() != psutil.STATUS_ZOMBIE and pid != self.popen.pid:
                    left.append(pid)
            except psutil.Error:
                continue
        return left


class PlainSandbox(Tier):
    name, level = "plain", "C"
    shares_host_port = True  # one real port: one server at a time
    own_network = False
    per_run_uid = is_root()  # never run a submission as root, not even in this tier

    def __init__(self, fallback_reason: str | None = None, observe: str = "auto") -> None:
        super().__init__(fallback_reason, observe)
        self.description = _("plain process on the real port, one run at a time, limits by polling")

    def _spawn(self, launch: Launch, held: Held) -> Run:
        if launch.address:
            lock = _port_lock(launch.address)
            held.add(lock.close)  # releases the flock
            require_free(launch.address)
        uid = held.slot_uid(launch, needed=is_root())
        scratch = prepare_scratch(launch, readable=uid is not None)
        held.add(lambda: shutil.rmtree(scratch, ignore_errors=True))
        env = submission_env(launch)
        t0 = time.monotonic()
        popen = subprocess.Popen(launcher_argv(launch, scratch, "--subreaper", uid=uid),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=env, start_new_session=True)
        return PlainRun(popen, scratch, launch.limits, t0, env["GRADER_RUN"], uid[0] if uid else os.getuid())


def _port_lock(address: tuple[str, int]):
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
