"""The one way out of a run: `Snapshot`, plain data about the submission's processes at one moment.

Checks, the context and the diagnosis see only snapshots (never pids, psutil objects or /proc paths), so a
fake run can script them (tests/fakes.py) and every backend answers the same questions:

    procfs, in the grader's process     root with CAP_SYS_PTRACE, or the run's uid is the grader's own
    procfs, as the run's uid            root without CAP_SYS_PTRACE (a container): a small observer process
                                        dropped to the run's uid reads /proc for the grader (procfs.serve)
    psutil                              `--observe psutil`: what psutil offers everywhere (macOS, Windows):
                                        processes, threads, fd counts, CPU; no fd flags, no syscalls, and
                                        sockets only in the grader's own network namespace

What a backend cannot see is None in the snapshot (never a guess), and the check that needs it reports
"not graded here" with `NotObservable`, never a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

from grader.i18n import _
from grader.sandbox.host import python_paths
from grader.sandbox.standalone import LAUNCHER, PROCFS_SOURCE, procfs
from grader.sandbox.types import READINESS_SYSCALLS

FD_SYSCALLS = {"read", "write", "recvfrom", "recvmsg", "sendto", "accept", "accept4"}


@dataclass(frozen=True)
class Fd:
    fd: int
    socket_inode: int | None  # None: not a socket
    nonblocking: bool | None  # None: unknown here
    pipe: int | None = None  # the pipe's inode, if it is one (the grader observer's channel is checked by it)


@dataclass(frozen=True)
class Process:
    pid: int
    state: str  # R running/runnable, S sleeping, D disk, T stopped... (the kernel's letter)
    cpu_seconds: float  # user + system
    run_seconds: float | None  # on a CPU, summed over threads (schedstat); None: not observable here
    wait_seconds: float | None  # runnable but waiting for a CPU
    threads: int
    fds: tuple[Fd, ...] | None  # None: not observable here
    syscall: tuple[str, tuple[int, ...]] | None  # what the main thread is blocked in, None if running/unknown

    @property
    def runnable(self) -> bool:
        return self.state == "R"

    @property
    def fds_listed(self) -> bool:
        """Whether `fds` names each fd by its number (procfs), not only counts them (psutil: numbers < 0)."""
        return self.fds is not None and all(f.fd >= 0 for f in self.fds)


@dataclass(frozen=True)
class TcpSocket:
    pid: int
    fd: int
    local: tuple[str, int]
    remote: tuple[str, int]
    state: str  # LISTEN, ESTABLISHED, CLOSE_WAIT...


@dataclass(frozen=True)
class Snapshot:
    processes: tuple[Process, ...]  # the main process first
    sockets: tuple[TcpSocket, ...] | None  # None: socket states are not observable here

    @property
    def main(self) -> Process | None:
        return self.processes[0] if self.processes else None

    def fd_count(self) -> int | None:
        if any(p.fds is None for p in self.processes):
            return None
        return sum(len(p.fds or ()) for p in self.processes)

    def threads(self) -> int:
        return sum(p.threads for p in self.processes)

    def max_threads(self) -> int:
        return max((p.threads for p in self.processes), default=0)

    def in_state(self, state: str) -> list[TcpSocket]:
        return [s for s in self.sockets or () if s.state == state]

    def sched_seconds(self) -> tuple[float, float] | None:
        if any(p.run_seconds is None for p in self.processes):
            return None
        return (sum(p.run_seconds or 0.0 for p in self.processes),
                sum(p.wait_seconds or 0.0 for p in self.processes))

    def any_runnable(self) -> bool:
        return any(p.runnable for p in self.processes)

    def describe_fd(self, pid: int, fd: int) -> str:
        """`a connection socket (fd 4, 127.0.0.1:9000 <- 127.0.0.1:40112, ESTABLISHED) in blocking mode`."""
        proc = next((p for p in self.processes if p.pid == pid), None)
        entry = next((f for f in (proc.fds or ()) if f.fd == fd), None) if proc else None
        mode = {True: _("nonblocking mode"), False: _("blocking mode"), None: _("unknown mode")}[
            entry.nonblocking if entry else None]
        if entry is None or entry.socket_inode is None:
            return (_("fd {fd} (not a socket) in {mode}") if entry else _("fd {fd} in {mode}")).format(fd=fd, mode=mode)
        for s in self.sockets or ():
            if s.pid == pid and s.fd == fd:
                if s.state == "LISTEN":
                    return _("the listening socket (fd {fd}, {local}) in {mode}").format(
                        fd=fd, local=f"{s.local[0]}:{s.local[1]}", mode=mode)
                return _("a connection socket (fd {fd}, {local} <- {remote}, {state}) in {mode}").format(
                    fd=fd, local=f"{s.local[0]}:{s.local[1]}", remote=f"{s.remote[0]}:{s.remote[1]}", state=s.state,
                    mode=mode)
        return _("a socket (fd {fd}) in {mode}").format(fd=fd, mode=mode)

    def where_stuck(self) -> str | None:
        """A sentence on what the main thread is blocked in, from its syscall and the fd's flags."""
        main = self.main
        if main is None or main.syscall is None:
            return None
        name, args = main.syscall
        if name in FD_SYSCALLS and args:
            return _("blocked in {call}() on {fd}").format(call=name, fd=self.describe_fd(main.pid, args[0]))
        if name in READINESS_SYSCALLS:
            return _("waiting in {call}() (an event loop waiting for readiness)").format(call=name)
        if name in ("nanosleep", "clock_nanosleep"):
            return _("sleeping in {call}()").format(call=name)
        if name == "futex":
            return _("waiting on a lock or for another thread (futex)")
        return _("in {call}()").format(call=name)

    def nonblocking(self, pid: int, fd: int) -> bool | None:
        proc = next((p for p in self.processes if p.pid == pid), None)
        entry = next((f for f in (proc.fds or ()) if f.fd == fd), None) if proc else None
        return entry.nonblocking if entry else None


EMPTY = Snapshot((), ())


def from_plain(data: dict[str, Any]) -> Snapshot:
    """A Snapshot from procfs.snapshot()'s JSON-safe dict (read here or by an observer process)."""
    procs = []
    for p in data.get("processes", []):
        fds = None if p["fds"] is None else tuple(Fd(f["fd"], f["inode"], f["nonblocking"], f.get("pipe"))
                                                  for f in p["fds"])
        sc = p.get("syscall")
        procs.append(Process(p["pid"], p["state"], float(p["cpu"]), p.get("run"), p.get("wait"), int(p["threads"]),
                             fds, (sc[0], tuple(sc[1])) if sc else None))
    unreadable = any(p.fds is None for p in procs)
    socks = tuple(TcpSocket(s["pid"], s["fd"], (s["local"][0], s["local"][1]), (s["remote"][0], s["remote"][1]),
                            s["state"]) for s in data.get("sockets", []))
    return Snapshot(tuple(procs), None if unreadable else socks)


class ObservationError(RuntimeError):
    """The observer itself failed (it died, or answered nonsense): a grader problem, not a verdict."""


class Observer:
    """Reads snapshots of pids. The base class reads /proc in the grader's own process."""

    name = "procfs"

    def snapshot(self, pids: list[int]) -> Snapshot:
        return from_plain(procfs.snapshot(pids))

    def pids_in_pidns(self, pidns: str) -> list[int]:
        return procfs.pids_in_pidns(pidns, os.getpid())

    def readlink(self, path: str) -> str:
        return os.readlink(path)

    def open_fd(self, path: str) -> int:
        """An fd of `path` opened by this observer (a namespace file of the run: /proc/PID/ns/net)."""
        return os.open(path, os.O_RDONLY)

    def close(self) -> None:
        pass


class UidObserver(Observer):
    """An observer process running as the run's uid (started by the grader, root, with CAP_SETUID): it may
    read the /proc of that uid's processes without CAP_SYS_PTRACE. One per run, gone with the run."""

    name = "procfs as the run's uid"

    def __init__(self, uid: int, gid: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # The source comes on stdin (`python -`): the uid may not be able to read the grader's checkout.
        source_r, source_w = os.pipe()
        os.write(source_w, PROCFS_SOURCE.read_bytes())  # ~10 KB: fits the pipe's buffer
        os.close(source_w)
        argv = [sys.executable, "-I", "-S", "-", str(theirs.fileno())]
        become: dict[str, Any] = {}  # Popen's user/group/extra_groups
        if os.geteuid() == 0:  # only root may change uid; anyone may observe as themselves
            setpriv = shutil.which("setpriv")
            if setpriv:  # through the launcher, which exposes an interpreter under a closed folder (/root)
                expose = [arg for p in python_paths() for arg in ("--expose", p)]
                argv = [sys.executable, "-I", "-S", str(LAUNCHER), *expose, "--exec", "--", setpriv,
                        f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *argv]
            else:
                become = {"user": uid, "group": gid, "extra_groups": []}
        try:
            self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and our own code
                argv, stdin=source_r, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                pass_fds=[theirs.fileno()], cwd="/", **become,
                env={"PATH": "/usr/bin:/bin"})
        except PermissionError as exc:
            ours.close()
            raise PermissionError(exc.errno, f"the interpreter {sys.executable} cannot be run by uid {uid}, the "
                                             f"run's (a folder above it is closed to other users): install "
                                             f"Python where every user can read it (a container's "
                                             f"/usr/bin/python3 is)") from None
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
            os.close(source_r)
        ours.settimeout(10)
        self._sock = ours
        self._rfile, self._wfile = ours.makefile("rb"), ours.makefile("wb")
        self._lock = threading.Lock()

    def _last_words(self) -> str:
        """What the observer process (or the launcher that was to start it) said before it went away: the real
        cause (e.g. the interpreter's folder is closed to other users), which a reset socket alone hides."""
        try:
            self._proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return ""
        err = self._proc.stderr.read().decode(errors="replace").strip() if self._proc.stderr else ""
        lines = [ln for ln in err.splitlines() if ln.strip()]
        return lines[-1][-500:] if lines else ""

    def _gone(self, exc: OSError | None = None) -> ObservationError:
        said = self._last_words()
        if said:
            return ObservationError(f"the observer process is gone: {said}")
        return ObservationError(f"the observer process is gone ({exc})" if exc else "the observer process is gone")

    def _ask(self, msg: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            try:
                self._wfile.write(json.dumps(msg).encode() + b"\n")
                self._wfile.flush()
                line = self._rfile.readline()
            except OSError as exc:
                raise self._gone(exc) from None
        if not line:
            raise self._gone()
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise ObservationError(f"the observer failed: {reply['error']}")
        return reply

    def snapshot(self, pids: list[int]) -> Snapshot:
        return from_plain(self._ask({"op": "snapshot", "pids": pids}))

    def pids_in_pidns(self, pidns: str) -> list[int]:
        pids: list[int] = self._ask({"op": "pidns", "ns": pidns})["pids"]
        return pids

    def readlink(self, path: str) -> str:
        try:
            target: str = self._ask({"op": "readlink", "path": path})["target"]
            return target
        except ObservationError as exc:
            raise OSError(str(exc)) from None

    def open_fd(self, path: str) -> int:
        with self._lock:  # the reply line carries the fd (SCM_RIGHTS): read it with recvmsg, not the file
            try:
                self._wfile.write(json.dumps({"op": "open", "path": path}).encode() + b"\n")
                self._wfile.flush()
                msg, fds, _flags, _addr = socket.recv_fds(self._sock, 1 << 16, 1)
            except OSError as exc:
                raise OSError(str(self._gone(exc))) from None
        reply = json.loads(msg or b"{}")
        if not fds:
            raise PermissionError(reply.get("error", "the observer could not open it"))
        return fds[0]

    def close(self) -> None:
        for f in (self._wfile, self._rfile, self._sock):
            try:
                f.close()
            except OSError:
                pass
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=2)
        if self._proc.stderr:
            self._proc.stderr.close()


class PsutilObserver(Observer):
    """What psutil can tell on any platform: processes, threads, fd counts, CPU. No fd flags, no syscall, no
    runnable time; socket states only where the run shares the grader's network namespace."""

    name = "psutil"

    def __init__(self, sockets_visible: bool) -> None:
        self._sockets_visible = sockets_visible

    def snapshot(self, pids: list[int]) -> Snapshot:
        import psutil

        procs, socks = [], []
        for pid in pids:
            try:
                p = psutil.Process(pid)
                with p.oneshot():
                    status = p.status()
                    if status == psutil.STATUS_ZOMBIE:
                        continue
                    cpu = p.cpu_times()
                    try:
                        # num_handles: Windows only; the stubs declare it for win32 alone and mypy checks as Linux
                        nfds = p.num_fds() if hasattr(p, "num_fds") else p.num_handles()  # type: ignore[attr-defined]
                    except psutil.Error:
                        nfds = None
                    threads = p.num_threads()
                    conns = p.net_connections("tcp") if self._sockets_visible else []
            except psutil.Error:
                continue
            # psutil has fd numbers only for sockets: the rest are counted, not listed (Process.fds_listed)
            fds = None if nfds is None else tuple(Fd(-1 - i, None, None) for i in range(nfds))
            procs.append(Process(pid, "R" if status == psutil.STATUS_RUNNING else "S", cpu.user + cpu.system,
                                 None, None, threads, fds, None))
            for c in conns:
                remote = (c.raddr.ip, c.raddr.port) if c.raddr else ("0.0.0.0", 0)  # noqa: S104 - a value
                socks.append(TcpSocket(pid, c.fd, (c.laddr.ip, c.laddr.port), remote, c.status))
        return Snapshot(tuple(procs), tuple(socks) if self._sockets_visible else None)

    def pids_in_pidns(self, pidns: str) -> list[int]:
        return Observer.pids_in_pidns(self, pidns) if sys.platform == "linux" else []
