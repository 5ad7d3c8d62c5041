"""Parallel slots, each with its own unprivileged uid (root tiers).

A uid per slot is what isolate does (`cf_first_uid + box_id`): submissions graded at the same time cannot
signal, ptrace or read each other, and every process of a uid is known to belong to one run. Slots are
allocated with a `flock` per slot in a root-only directory, so runs in different grader processes never
share one; the lock goes with the process that holds it, even if that process is killed.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import psutil

UID_BASE = 60000  # Debian leaves 60000-64999 for global allocation on demand; nothing here by default
SLOTS = 1000  # uids 60000-60999: enough for a parallel batch (workers x behaviours at once)
LOCK_DIR = Path("/run/grader-slots")


class Slot:
    def __init__(self, index: int, fh: TextIO) -> None:
        self.index = index
        self.uid = self.gid = UID_BASE + index
        self._fh: TextIO | None = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # releases the flock
            self._fh = None


def _usable(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return True
    return False  # a real account owns this uid: never run submissions as it


def _lock_dir() -> Path:
    d = LOCK_DIR if os.access(LOCK_DIR.parent, os.W_OK) else Path("/tmp/grader-slots-0")  # noqa: S108
    d.mkdir(mode=0o700, exist_ok=True)
    st = d.stat()
    if st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise PermissionError(f"{d} must be a directory owned by uid {os.geteuid()} with mode 700")
    return d


def processes_of(uid: int) -> list[int]:
    """pids of live processes running as `uid` (real or effective)."""
    return [pid for pid, uids in _live_uids().items() if uid in uids]


def _live_uids() -> dict[int, tuple[int, int]]:
    """pid -> (real, effective uid) of every live process, from each /proc/PID/status: one pass over /proc
    answers for every candidate slot (psutil.process_iter builds a Process per pid for the same answer)."""
    if not os.path.isdir("/proc/self"):
        return {pid: uids for pid, uids in _live_uids_psutil()}
    found: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as fh:
                status = fh.read(2048)
        except OSError:
            continue
        state = None
        for line in status.split(b"\n"):
            if line.startswith(b"State:"):
                state = line.split()[1:2]
            elif line.startswith(b"Uid:"):
                f = line.split()
                if state not in ([b"Z"], [b"X"]) and len(f) >= 3:
                    found[int(name)] = (int(f[1]), int(f[2]))
                break
    return found


def _live_uids_psutil() -> Iterator[tuple[int, tuple[int, int]]]:
    for p in psutil.process_iter(["uids", "status"]):
        try:
            if p.info["uids"] and p.info["status"] != psutil.STATUS_ZOMBIE:
                yield p.pid, (p.info["uids"].real, p.info["uids"].effective)
        except psutil.Error:
            continue


def acquire(timeout: float = 120.0) -> Slot:
    """A free slot: its lock taken, and no process running as its uid. A slot whose uid still has processes
    (whatever they are: leftovers of a grader killed with SIGKILL, or a grader whose lock files we cannot
    see) is skipped, never cleaned up by killing: we kill only what we know is ours."""
    d = _lock_dir()
    deadline = time.monotonic() + timeout
    while True:
        in_use: set[int] | None = None  # uids with live processes: read once per pass, when a lock is had
        for i in range(SLOTS):
            uid = UID_BASE + i
            if not _usable(uid):
                continue
            fh = open(d / f"uid-{uid}.lock", "a+")  # noqa: SIM115 - held until release()
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            if in_use is None:
                in_use = {u for uids in _live_uids().values() for u in uids}
            if uid in in_use:
                fh.close()
                continue
            return Slot(i, fh)
        if time.monotonic() > deadline:
            raise TimeoutError(f"all {SLOTS} sandbox slots stayed busy for {timeout:.0f} s")
        time.sleep(0.05)
