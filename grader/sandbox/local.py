"""Two tiers that need nothing but the kernel.

* `NetnsSandbox` (root Linux): each run in its own network + pid namespace (launch.py). The grader reaches
  the server through a helper thread that setns()es into the run's network namespace and creates client
  sockets there; the socket keeps its namespace, so any thread may use it afterwards.
* `PlainSandbox` (anything else): a plain process in its own session on the real port. Runs on one address
  are serialised across processes by a lock file; teardown kills the process group and every descendant.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import queue
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
from grader.sandbox import Launch
from grader.sandbox.run import Run, kill_pids

LAUNCHER = Path(__file__).with_name("launch.py")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def netns_available() -> str | None:
    """None if this machine can give each run its own namespaces, else why not."""
    if sys.platform != "linux":
        return f"network namespaces are Linux-only (this is {sys.platform})"
    if os.geteuid() != 0:
        return "not running as root (namespaces for every run need root here)"
    probe = subprocess.run([sys.executable, "-I", "-S", str(LAUNCHER), "--netns", "--pidns", "--", "/bin/true"],
                           capture_output=True, text=True, timeout=10, check=False)
    if probe.returncode != 0:
        return f"creating a namespace failed: {probe.stderr.strip() or probe.returncode}"
    return None


def prepare_scratch(launch: Launch) -> Path:
    """A private copy of the submission: the run never touches the original folder."""
    # GRADER_SCRATCH: where runs' private copies go (default: the system temp dir)
    scratch = Path(tempfile.mkdtemp(prefix="grader-run-", dir=os.environ.get("GRADER_SCRATCH") or None))
    work = scratch / "sub"
    shutil.copytree(launch.submission, work, symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__", ".git", "*.pyc", ".venv"))
    if launch.run_as is not None:  # readable (not writable) by the unprivileged user
        for d in [scratch, *(p for p in scratch.rglob("*") if p.is_dir())]:
            d.chmod(0o755)
        for f in (p for p in scratch.rglob("*") if p.is_file()):
            f.chmod(0o644)
    return scratch


def submission_env(launch: Launch) -> dict[str, str]:
    """A minimal environment: nothing of the grader's (no secrets, no PYTHONPATH of ours)."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp"}  # noqa: S108 - the sandbox's own /tmp
    if launch.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in launch.pythonpath)
    env.update(launch.env)
    return env


def launcher_argv(launch: Launch, scratch: Path, *, namespaces: bool) -> list[str]:
    lim = launch.limits
    argv = [sys.executable, "-I", "-S", str(LAUNCHER)]
    if namespaces:
        argv += ["--netns", "--pidns"]
    argv += ["--nofile", str(lim.nofile), "--fsize", str(lim.fsize_bytes), "--cpu", str(lim.cpu_seconds),
             "--cwd", str(scratch / "sub")]
    if launch.run_as is not None:
        argv += ["--uid", str(launch.run_as[0]), "--gid", str(launch.run_as[1])]
    argv += ["--", sys.executable, launch.entry]
    return argv


class _NetnsSockets:
    """A thread living in the run's network namespace that makes sockets on request."""

    def __init__(self, ns_path: str) -> None:
        self._requests: queue.Queue = queue.Queue()
        self._ready = threading.Event()
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._serve, args=(ns_path,), daemon=True, name="netns")
        self._thread.start()
        self._ready.wait(5)
        if self._error:
            raise self._error

    def _serve(self, ns_path: str) -> None:
        try:
            fd = os.open(ns_path, os.O_RDONLY)
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


class NetnsRun(Run):
    tier = "netns"

    def __init__(self, popen: subprocess.Popen, scratch: Path, cap: int, t0: float) -> None:
        super().__init__(popen, scratch, cap, t0)
        self._main: int | None = None
        self._init: int | None = None
        self._pidns: str | None = None
        self._sockets: _NetnsSockets | None = None
        self._find_main(timeout=5.0)

    def _find_main(self, timeout: float) -> None:
        """launcher -> init (pid 1 inside) -> main; wait until the exec'd main process exists."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.popen.poll() is None:
            try:
                kids = psutil.Process(self.popen.pid).children()
                if kids:
                    init = kids[0]
                    self._init = init.pid
                    self._pidns = os.readlink(f"/proc/{init.pid}/ns/pid")
                    grandkids = init.children()
                    if grandkids and grandkids[0].exe() == os.path.realpath(sys.executable):
                        self._main = grandkids[0].pid
                        self._sockets = _NetnsSockets(f"/proc/{self._main}/ns/net")
                        return
            except (psutil.Error, OSError):
                pass
            time.sleep(0.005)

    def main_pid(self) -> int | None:
        if self._main is None:
            return None
        try:
            p = psutil.Process(self._main)
            if p.status() == psutil.STATUS_ZOMBIE:
                return None
            return self._main
        except psutil.Error:
            return None

    def processes(self) -> list[psutil.Process]:
        """Every live process of the run's pid namespace but its init: daemons that left main count too."""
        if self._init is None:
            return []
        try:
            procs = psutil.Process(self._init).children(recursive=True)
        except psutil.Error:
            return []
        return [p for p in procs if _not_zombie(p)]

    def socket(self, family: int = socket.AF_INET) -> socket.socket:
        if self._sockets is None:
            raise OSError(errno.ENETUNREACH, "the submission's network namespace is gone")
        return self._sockets.socket(family)

    def _kill_tree(self) -> None:
        # SIGKILL of the namespace's init makes the kernel kill every process in the pid namespace.
        if self._init is not None:
            kill_pids([self._init])
        kill_pids([self.popen.pid])

    def _leftovers(self) -> list[int]:
        if self._pidns is None:
            return []
        left = []
        for p in psutil.pids():
            try:
                if os.readlink(f"/proc/{p}/ns/pid") == self._pidns and p != os.getpid():
                    st = psutil.Process(p).status()
                    if st != psutil.STATUS_ZOMBIE:
                        left.append(p)
            except (OSError, psutil.Error):
                continue
        return left

    def _on_stopped(self) -> None:
        if self._sockets:
            self._sockets.close()


def _not_zombie(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class NetnsSandbox:
    tier = "netns"
    description = "own network and pid namespace per run (root)"

    def start(self, launch: Launch) -> Run:
        scratch = prepare_scratch(launch)
        t0 = time.monotonic()
        popen = subprocess.Popen(launcher_argv(launch, scratch, namespaces=True), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=submission_env(launch),
                                 start_new_session=True)
        return NetnsRun(popen, scratch, launch.limits.output_cap_bytes, t0)


class PlainRun(Run):
    tier = "plain"

    def __init__(self, popen: subprocess.Popen, scratch: Path, cap: int, t0: float, lock: object) -> None:
        super().__init__(popen, scratch, cap, t0)
        self._lock = lock
        self._known: set[int] = {popen.pid}

    def processes(self) -> list[psutil.Process]:
        procs = super().processes()
        self._known.update(p.pid for p in procs)
        return procs

    def _tree(self) -> list[int]:
        pids = set(self._known)
        try:
            pids.update(p.pid for p in psutil.Process(self.popen.pid).children(recursive=True))
        except psutil.Error:
            pass
        # double-forked daemons leave the tree but keep the session id
        for p in psutil.process_iter(["pid"]):
            try:
                if os.getsid(p.pid) == self.popen.pid:
                    pids.add(p.pid)
            except OSError:
                continue
        return sorted(pids)

    def _kill_tree(self) -> None:
        pids = self._tree()
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except OSError:
            pass
        kill_pids(pids)

    def _leftovers(self) -> list[int]:
        left = []
        for pid in self._tree():
            try:
                p = psutil.Process(pid)
                if p.status() != psutil.STATUS_ZOMBIE and pid != self.popen.pid:
                    left.append(pid)
            except psutil.Error:
                continue
        return left

    def _on_stopped(self) -> None:
        if self._lock is not None:
            self._lock.close()  # releases the flock


class PlainSandbox:
    tier = "plain"

    def __init__(self, fallback_reason: str | None = None) -> None:
        self.fallback_reason = fallback_reason
        self.description = "plain process on the real port, one run at a time" + (
            f" (no namespaces: {fallback_reason})" if fallback_reason else "")

    def start(self, launch: Launch) -> Run:
        lock = None
        if launch.address:
            lock = _port_lock(launch.address)
            require_free(launch.address)
        scratch = prepare_scratch(launch)
        t0 = time.monotonic()
        popen = subprocess.Popen(launcher_argv(launch, scratch, namespaces=False), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=submission_env(launch),
                                 start_new_session=True)
        return PlainRun(popen, scratch, launch.limits.output_cap_bytes, t0, lock)


def _port_lock(address: tuple[str, int]):
    path = Path(tempfile.gettempdir()) / f"grader-port-{address[1]}.lock"
    fh = open(path, "a+")  # noqa: SIM115 - held for the run's lifetime, closed in _on_stopped
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
