"""Tier B/userns: Linux without root, with unprivileged user namespaces (student laptops, CI without sudo).

    grader (uid U)
      └ launch.py --userns     new user (U mapped to itself) + net + pid + mount + ipc + uts namespaces,
          │                    loopback up, rlimits incl. RLIMIT_NPROC (counted per user namespace)
          └ init (pid 1)       private /proc; reaps; serves client sockets (below); its exit kills the ns
              └ python ENTRY   same uid as the grader, own port 9000, sees only its own processes

The grader cannot setns() into a namespace without root, so init, a trusted stub inside the namespace,
creates each client socket there and passes it out over a Unix socket (SCM_RIGHTS); a socket keeps the
namespace it was made in. Memory is watched by polling RSS (no cgroup without root); the filesystem is the
user's own (the threat model here is accidents, not malice: only tier A verdicts are official).
"""

from __future__ import annotations

import errno
import shutil
import socket
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

from grader.i18n import _
from grader.sandbox.cgroup import RunCgroup
from grader.sandbox.host import (
    cgroup_layout,
    is_root,
    launcher_argv,
    prepare_scratch,
    submission_env,
)
from grader.sandbox.run import NamespacedRun
from grader.sandbox.standalone import LAUNCHER
from grader.sandbox.tiers.base import Held, Tier
from grader.sandbox.types import Launch

if TYPE_CHECKING:
    from pathlib import Path

    from grader.sandbox.cgroup import RunCgroup
    from grader.sandbox.types import Limits

APPARMOR_HINT = ("unprivileged user namespaces are refused here (on Ubuntu >= 23.10, AppArmor: "
                 "`sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`, or run the grader with sudo; in a "
                 "container, its seccomp profile, as Docker's default one does)")
_probe: dict[str, str | None] = {}


def userns_problem(quick: bool = False) -> str | None:
    if sys.platform != "linux":
        return f"user namespaces are Linux-only (this is {sys.platform})"
    if "result" not in _probe:
        try:
            probe = subprocess.run([sys.executable, "-I", "-S", str(LAUNCHER), "--userns", "--", "/bin/true"],
                                   capture_output=True, text=True, timeout=10, check=False)
            ok = probe.returncode == 0
            err = probe.stderr.strip()
        except (OSError, subprocess.TimeoutExpired) as exc:
            ok, err = False, str(exc)
        _probe["result"] = None if ok else f"{APPARMOR_HINT} ({err.splitlines()[-1] if err else 'failed'})"
    return _probe["result"]


class StubSockets:
    """Client sockets made by the run's init inside its network namespace, received over SCM_RIGHTS."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._sock.settimeout(5)
        self._lock = threading.Lock()

    def socket(self, family: int) -> socket.socket:
        with self._lock:
            try:
                self._sock.send(b"6" if family == socket.AF_INET6 else b"4")
                msg, fds, _flags, _addr = socket.recv_fds(self._sock, 64, 1)
            except OSError as exc:
                raise OSError(errno.ENETUNREACH, f"the submission's network namespace is gone ({exc})") from None
        if fds:
            return socket.socket(fileno=fds[0])
        if msg.startswith(b"E"):
            code = int(msg[1:] or 0)
            raise OSError(code, f"creating a socket in the sandbox failed: {errno.errorcode.get(code, code)}")
        raise OSError(errno.ENETUNREACH, "the submission's network namespace is gone")

    def close(self) -> None:
        self._sock.close()


class UsernsRun(NamespacedRun):
    kills_at_process_limit = False  # RLIMIT_NPROC (per user namespace) makes fork/thread creation fail

    def __init__(self, popen: subprocess.Popen[bytes], scratch: Path, limits: Limits, t0: float, stub: socket.socket,
                 cgroup: RunCgroup | None = None) -> None:
        self._stub = StubSockets(stub)
        super().__init__(popen, scratch, limits, t0, cgroup=cgroup)

    def _setup_sockets(self) -> None:
        self._sockets = self._stub  # type: ignore[assignment]

    def _on_stopped(self) -> None:
        self._stub.close()
        super()._on_stopped()


class UsernsSandbox(Tier):
    name, level = "userns", "B"
    per_run_uid = is_root()  # never map root into the namespace: it would be root on the host

    def __init__(self, fallback_reason: str | None = None, observe: str = "auto", *, forced: bool = False,
                 rejected: dict[str, str] | None = None) -> None:
        super().__init__(fallback_reason, observe, forced=forced, rejected=rejected)
        # As root (a container, where bwrap and netns cannot work) a cgroup per run where one can be made
        layout = cgroup_layout() if is_root() else None
        self._layout = layout if layout is not None and layout.v2 is not None and layout.limits else None
        self.cgroup_limits = self._layout is not None
        self.description = _("own user, network and pid namespace per run, {limits}; {uid}").format(
            limits=_("cgroup limits ({kind}) where the cgroup file system is writable").format(kind=self._layout.kind)
            if self._layout else _("limits by rlimits and polling"),
            uid=_("own uid per run") if is_root() else _("same uid as the grader, its files are readable"))

    @classmethod
    def problem(cls, quick: bool = False) -> str | None:
        return userns_problem(quick)

    def _spawn(self, launch: Launch, held: Held) -> UsernsRun:
        uid = held.slot_uid(launch, needed=is_root())
        cg = None
        if self._layout is not None:
            lim = launch.limits
            try:
                cg = RunCgroup.create(self._layout, memory_bytes=lim.memory_bytes, processes=lim.processes,
                                      cpus=lim.cpus)
                held.add(cg.remove)
            except OSError:
                cg = None  # a read-only cgroup file system (most containers): rlimits and polling, as without root
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            scratch = prepare_scratch(launch, readable=uid is not None)
            held.add(lambda: shutil.rmtree(scratch, ignore_errors=True))
            argv = launcher_argv(launch, scratch, "--userns", uid=uid, cgroup=cg,
                                 extra=["--stub-fd", str(theirs.fileno()), "--tmp-bytes", str(launch.limits.tmp_bytes),
                                        # the cgroup's pids.max, where there is one, else RLIMIT_NPROC
                                        *([] if cg else ["--nproc", str(launch.limits.processes)])])
            t0 = time.monotonic()
            popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=submission_env(launch),
                                     pass_fds=[theirs.fileno()], start_new_session=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return UsernsRun(popen, scratch, launch.limits, t0, ours, cgroup=cg)
