"""A running submission: its process tree, its output, a way to reach it, its limits and its teardown.

Every tier has the same shape: the grader starts one trusted process (`popen`: the launcher, or bwrap),
which has one reaper (`init`: pid 1 of the run's pid namespace, or the launcher itself as a child
subreaper), whose first child is the submission's main process. `processes()` are init's live
descendants: a double-forked daemon counts too.

Limits become verdicts: whatever the tier enforces (a cgroup, a poll of RSS and task counts, the output
limit, the wall-clock deadline) is recorded the first time it is seen, in order, and `limit_hits()` hands
it to the engine, which makes it the failed behaviour's reason.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from grader.i18n import _
from grader.sandbox.freeze import frozen
from grader.sandbox.host import NetnsSockets
from grader.sandbox.observe import EMPTY, Observer, Snapshot
from grader.sandbox.output import CappedOutput
from grader.sandbox.standalone import procfs
from grader.sandbox.types import Teardown

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from grader.sandbox.cgroup import RunCgroup
    from grader.sandbox.tiers.base import Held
    from grader.sandbox.types import Limits

MiB = 1 << 20


def _mib(n: int) -> str:
    return f"{n / MiB:.0f} MiB" if n >= MiB else f"{n} bytes"


class Run:
    """Handle on one started submission. Tiers subclass it for how to reach and kill the tree."""

    tier = "?"
    init_is_popen = False  # the popen'd process is itself the reaper (no pid namespace)
    poll_interval = 0.1
    polls_resources = True  # RSS / task-count polling (tiers without a cgroup)

    def __init__(self, popen: subprocess.Popen[bytes], scratch: Path, limits: Limits, t0: float) -> None:
        self.popen = popen
        self.scratch = scratch
        self.limits = limits
        self.t0 = t0
        self._hits: dict[str, tuple[float, str]] = {}
        self._hits_lock = threading.Lock()
        self._stopped: Teardown | None = None
        self._stopping = threading.Event()
        self._init: int | None = None
        self._main: int | None = None
        self._find_lock = threading.Lock()
        self._out_total = 0
        self.cgroup: RunCgroup | None = None  # set by tiers that put the run in a cgroup
        self.memory_peak: int | None = None  # bytes, from the cgroup, once stopped
        self.observer: Observer = Observer()  # set by the tier's start(): how snapshots are read
        self.held: Held | None = None  # slot, port lock...: released when the run stops
        assert popen.stdout is not None
        assert popen.stderr is not None
        self.stdout = CappedOutput(popen.stdout, limits.output_cap_bytes, t0, on_data=self._on_output)
        self.stderr = CappedOutput(popen.stderr, limits.output_cap_bytes, t0, on_data=self._on_output)

    # --- who is the submission -------------------------------------------------------------------------
    def _find_main(self, timeout: float = 10.0) -> bool:
        """popen -> init -> main: wait until the submission's main process exists (a loaded machine can take
        seconds to start three processes; if it takes longer, the observers below keep trying)."""
        deadline = time.monotonic() + timeout
        while True:
            if self._try_find():
                return True
            if time.monotonic() >= deadline or self.popen.poll() is not None:
                return False
            time.sleep(0.003)

    def _try_find(self) -> bool:
        with self._find_lock:
            return self._try_find_locked()

    def _try_find_locked(self) -> bool:
        if self._main is not None:
            return True
        if self._init is None:
            if self.init_is_popen:
                self._init = self.popen.pid
            else:
                kids = _children(self.popen.pid)
                if kids:
                    self._init = kids[0]
        if self._init is not None:
            kids = _children(self._init)
            if kids:
                self._main = kids[0]
                self._on_found()
                return True
        return False

    def _on_found(self) -> None:
        """Called once main is known (tiers set up their client-socket helper here)."""

    def main_pid(self) -> int | None:
        """Host pid of the submission's main process (None once it has exited)."""
        if self._main is None and (self.popen.poll() is not None or not self._try_find()):
            return None
        main = self._main  # set by _try_find() above (mypy cannot see that)
        return main if main is not None and _alive(main, self._init) else None

    def processes(self) -> list[psutil.Process]:
        """The submission's live processes: the main one first, then every other descendant of init."""
        if self._main is None and self.popen.poll() is None:
            self._try_find()
        if self._init is None:
            return []
        if self.cgroup is not None:  # cheaper than a walk of /proc, and nothing can leave a cgroup
            helpers = {self.popen.pid, self._init}
            procs = []
            for pid in self.cgroup.pids():
                if pid not in helpers:
                    try:
                        procs.append(psutil.Process(pid))
                    except psutil.Error:
                        continue
        else:
            procs = []
            for pid in _descendants(self._init):
                try:
                    procs.append(psutil.Process(pid))
                except psutil.Error:
                    continue
        return _main_first([p for p in procs if _not_zombie(p)], self._main)

    @property
    def observer_name(self) -> str:
        """How this run is observed ("procfs", "procfs as the run's uid", "psutil"), for "not observable here"."""
        return self.observer.name

    def snapshot(self) -> Snapshot:
        """The submission's processes, threads, fds, sockets, CPU and where it waits, as plain data; the
        only way checks observe a run. After the run is gone: an empty snapshot."""
        if self._stopped is not None:
            return EMPTY
        return self.observer.snapshot([p.pid for p in self.processes()])

    def frozen(self) -> AbstractContextManager[str]:
        """A context in which every process of the run is held still (grader/sandbox/freeze.py): events the
        grader delivers meanwhile are all there when the server next runs. Raises Frozen if it cannot."""
        return frozen(self)

    def alive(self) -> bool:
        return self.main_pid() is not None

    @property
    def exit_code(self) -> int | None:
        code = self.popen.poll()
        if code is None:
            return None
        return 128 - code if code < 0 else code

    def wait(self, timeout: float) -> int | None:
        """Wait until the sandbox's own processes are gone and the output is drained; the exit code, or
        None if it is still running after `timeout`."""
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.stdout.wait_closed(2.0)
        self.stderr.wait_closed(2.0)
        return self.exit_code

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def cpu_seconds(self) -> float:
        """User + system CPU time of the submission, from the kernel: the cgroup's (every process that ever
        ran in it) where there is one, else the sum over the live processes."""
        if self.cgroup is not None and not self._stopping.is_set():
            used = self.cgroup.cpu_seconds()
            if used is not None:
                return used
        total = 0.0
        for p in self.processes():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                continue
        return total

    def cap_cpu(self, cpus: float) -> bool:
        """Hold the run to `cpus` cores from now on (the tiers with a CPU cgroup); False where it cannot."""
        if self.cgroup is None or self._stopping.is_set() or not self.cgroup.layout.limits:
            return False
        return self.cgroup.set_cpus(cpus)

    def throttled_seconds(self) -> float:
        """How long the run's CPU cap has held it back (0.0 without a cap or a cgroup)."""
        if self.cgroup is None or self._stopping.is_set():
            return 0.0
        return self.cgroup.throttled_seconds() or 0.0

    # --- limits -------------------------------------------------------------------------------------------
    def _hit(self, reason: str, text: str) -> None:
        with self._hits_lock:
            self._hits.setdefault(reason, (time.monotonic(), text))

    def _limit_kill(self, reason: str, text: str) -> None:
        """A limit the grader enforces itself: record it, then kill the tree."""
        self._hit(reason, text)
        try:
            self._kill_tree()
        except Exception:  # noqa: BLE001 - stop() kills again and reports survivors
            pass

    def _on_output(self, n: int) -> None:
        with self._hits_lock:
            self._out_total += n
            over = self._out_total > self.limits.output_limit_bytes and "output_limit" not in self._hits
        if over and not self._stopping.is_set():
            self._limit_kill("output_limit",
                             _("stopped after printing more than {limit} (the output limit)").format(
                                 limit=_mib(self.limits.output_limit_bytes)))

    kills_at_process_limit = True  # no kernel limit on processes: the poll enforces it

    def _poll_limits(self) -> None:
        """Read the cgroup's limit counters; without a cgroup, watch RSS and the task count (threads
        included) from outside and enforce the limits by killing the tree."""
        lim = self.limits
        if self.cgroup is not None and self.cgroup.layout.limits:
            if self.cgroup.oom_kills():
                self._hit("memory_limit", _("killed by the {limit} memory limit").format(limit=_mib(lim.memory_bytes)))
            if self.cgroup.process_limit_hits():
                self._hit("process_limit", _("ran into the limit of {n} processes and threads").format(n=lim.processes)
                          + _(" (creating more failed)"))
            return
        if not self.polls_resources:
            return
        procs = self.processes()
        tasks, biggest = 0, 0
        for p in procs:
            try:
                tasks += p.num_threads()
                biggest = max(biggest, p.memory_info().rss)
            except psutil.Error:
                continue
        if biggest > lim.memory_bytes:
            self._limit_kill("memory_limit",
                             _("killed by the {limit} memory limit").format(limit=_mib(lim.memory_bytes)))
        elif tasks >= lim.processes - 2:
            text = _("ran into the limit of {n} processes and threads").format(n=lim.processes)
            if self.kills_at_process_limit:
                self._limit_kill("process_limit", text + _(" (stopped)"))
            else:
                self._hit("process_limit", text + _(" (creating more failed)"))

    def _monitor(self) -> None:
        wall = self.limits.wall_seconds
        while not self._stopping.wait(self.poll_interval):
            if self.popen.poll() is not None and self._main is not None and not self.processes():
                break
            if wall is not None and self.elapsed() > wall:
                self._limit_kill("timeout",
                                 _("stopped after {seconds} s (the time limit)").format(seconds=f"{wall:.0f}"))
                break
            try:
                self._poll_limits()
            except Exception:  # noqa: BLE001 - a vanished process mid-poll; next round
                continue

    def _start_monitor(self) -> None:
        threading.Thread(target=self._monitor, daemon=True, name="run-monitor").start()

    def _exit_hits(self) -> None:
        """What the exit status alone says (a CPU-time rlimit ends a process with SIGXCPU)."""
        if self.exit_code == 128 + signal.SIGXCPU:
            self._hit("timeout", _("killed after {seconds} s of CPU time (the CPU-time limit)").format(
                seconds=self.limits.cpu_seconds))

    def limit_hits(self) -> dict[str, str]:
        """Limits the run ran into, first seen first, e.g. {"memory_limit": "killed by the 256 MiB memory
        limit"}. The engine turns a hit into the failed behaviour's reason. "output_noted" is not a limit:
        only a note that the output was longer than what is kept."""
        if self._stopped is None:
            try:
                self._poll_limits()
            except Exception:  # noqa: BLE001
                pass
        self._exit_hits()
        with self._hits_lock:
            hits = {k: text for k, (_t, text) in sorted(self._hits.items(), key=lambda kv: kv[1][0])}
        if (self.stdout.capped or self.stderr.capped) and "output_limit" not in hits:
            total = self.stdout.total + self.stderr.total
            hits["output_noted"] = _("printed {total} bytes (only the first and last {kept} kept)").format(
                total=total, kept=self.stdout.cap // 2)
        return hits

    # --- reaching it --------------------------------------------------------------------------------------
    def socket(self, family: int = socket.AF_INET) -> socket.socket:
        """A fresh TCP socket that lives where the submission's loopback is."""
        return socket.socket(family, socket.SOCK_STREAM)

    # --- tearing down -------------------------------------------------------------------------------------
    def _kill_tree(self) -> None:
        # The tier's own way first (kill the pid namespace's init, so that its parent reaps it), then the
        # cgroup's whole-tree kill for anything left.
        self._kill_without_cgroup()
        if self.cgroup is not None:
            try:
                self.popen.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
            self.cgroup.kill()

    def _kill_without_cgroup(self) -> None:
        raise NotImplementedError

    def _leftovers(self) -> list[int]:
        if self.cgroup is not None:
            return self.cgroup.wait_empty(0.5)
        return self._leftovers_without_cgroup()

    def _leftovers_without_cgroup(self) -> list[int]:
        raise NotImplementedError

    def _before_cleanup(self) -> None:
        """Last readings before the run's resources go (the cgroup's counters)."""
        try:
            self._poll_limits()
        except Exception:  # noqa: BLE001
            pass
        if self.cgroup is not None:
            peak = self.cgroup.memory_peak()
            if peak is not None:
                self.memory_peak = peak
            self.cgroup.remove()

    def stop(self) -> Teardown:
        if self._stopped is not None:
            return self._stopped
        self._stopping.set()
        self._kill_tree()
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=5)
        deadline = time.monotonic() + 2.0
        survivors = self._leftovers()
        while survivors and time.monotonic() < deadline:
            time.sleep(0.02)
            self._kill_tree()
            survivors = self._leftovers()
        self.stdout.wait_closed(1.0)
        self.stderr.wait_closed(1.0)
        self._before_cleanup()
        shutil.rmtree(self.scratch, ignore_errors=True)
        self._stopped = Teardown(self.exit_code, survivors)
        self._on_stopped()
        self.observer.close()
        if self.held is not None:
            self.held.release()
        return self._stopped

    def _on_stopped(self) -> None:
        pass


def _children(pid: int) -> list[int]:
    """Children of `pid`, oldest first: from /proc/PID/task/*/children, else psutil (which reads every
    process's stat file: ~28 ms of a behaviour's grader CPU when it was the only way)."""
    kids = procfs.child_pids(pid)
    if kids is not None:
        return kids
    try:
        return [p.pid for p in sorted(psutil.Process(pid).children(), key=_created)]
    except psutil.Error:
        return []


def _descendants(pid: int) -> list[int]:
    pids = procfs.descendant_pids(pid)
    if pids is not None:
        return pids
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _created(p: psutil.Process) -> float:
    try:
        return p.create_time()
    except psutil.Error:
        return 0.0


def kill_pids(pids: list[int]) -> None:
    for pid in pids:
        try:
            psutil.Process(pid).send_signal(signal.SIGKILL)
        except psutil.Error:
            pass


def _alive(pid: int, parent: int | None = None) -> bool:
    """Alive, not a zombie, and (if given) still `parent`'s child: one read of /proc/PID/stat."""
    st = procfs.state_and_parent(pid)
    if st is None:
        try:
            p = psutil.Process(pid)
            st = ("Z" if p.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD) else "S", p.ppid())
        except psutil.Error:
            return False
    return st[0] not in ("Z", "X") and (parent is None or st[1] == parent)


def _not_zombie(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _main_first(procs: list[psutil.Process], main: int | None) -> list[psutil.Process]:
    return sorted(procs, key=lambda p: (p.pid != main, p.pid))


class NamespacedRun(Run):
    """launcher/bwrap -> init (pid 1 of the run's pid namespace) -> main, reached through setns()."""

    def __init__(self, popen: subprocess.Popen[bytes], scratch: Path, limits: Limits, t0: float,
                 cgroup: RunCgroup | None = None) -> None:
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

    def _read_pidns(self, observer: Observer) -> None:
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
            return procfs.pids_in_pidns(self._pidns, os.getpid())

    def _on_stopped(self) -> None:
        if self._sockets:
            self._sockets.close()
