"""C/plain, anything else: a plain process in its own session on the real port, under a launcher that is its
child subreaper (Linux), so a double-forked daemon is still found and killed. Runs on one address are
serialised across processes by a lock file.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import psutil

from grader.i18n import _
from grader.sandbox.host import is_root, launcher_argv, port_lock, prepare_scratch, require_free, submission_env
from grader.sandbox.run import Run, kill_pids
from grader.sandbox.tiers.base import Held, Tier
from grader.sandbox.types import Launch

if TYPE_CHECKING:
    from pathlib import Path

    from grader.sandbox.types import Limits


class PlainRun(Run):
    init_is_popen = True  # the launcher is the child subreaper

    def __init__(self, popen: subprocess.Popen[bytes], scratch: Path, limits: Limits, t0: float, marker: str,
                 uid: int) -> None:
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

    def __init__(self, fallback_reason: str | None = None, observe: str = "auto", *, forced: bool = False,
                 rejected: dict[str, str] | None = None) -> None:
        super().__init__(fallback_reason, observe, forced=forced, rejected=rejected)
        self.description = _("plain process on the real port, one run at a time, limits by polling")

    def _spawn(self, launch: Launch, held: Held) -> Run:
        if launch.address:
            lock = port_lock(launch.address)
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
