"""Hold a run still while the grader delivers several events, so the server sees them in one fixed order.

Some verdicts depend on what the server finds when it next looks (bytes and a reset already both there, or
only the bytes). Left to the scheduler, that order flips between runs. Frozen, the server cannot look until
everything has arrived: the kernel still receives on its sockets, only the process does not run.

The mechanism is chosen once per run: the run's cgroup v2 `cgroup.freeze` (works on this hybrid machine's v2
group even without controllers) where it has one, else SIGSTOP/SIGCONT of every process of the run.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import psutil


class Frozen(Exception):
    """The run could not be frozen (nothing was held still; the caller must not pretend otherwise)."""


class Freezable(Protocol):
    """What freezing needs from a run: its cgroup (or None) and its processes."""

    @property
    def cgroup(self) -> object | None: ...  # read-only here: any run's cgroup type (or None) will do

    def processes(self) -> list[psutil.Process]: ...


def _cgroup_dir(run: Freezable) -> Path | None:
    group = getattr(run, "cgroup", None)
    path = getattr(group, "v2", None)
    if isinstance(path, Path) and (path / "cgroup.freeze").exists():
        return path
    return None


def _frozen(group: Path) -> bool:
    try:
        events = (group / "cgroup.events").read_text()
    except OSError:
        return False
    return any(line.strip() == "frozen 1" for line in events.splitlines())


def _freeze_cgroup(group: Path, timeout: float) -> None:
    (group / "cgroup.freeze").write_text("1")
    deadline = time.monotonic() + timeout
    while not _frozen(group):  # the kernel confirms once every task has stopped
        if time.monotonic() > deadline:
            (group / "cgroup.freeze").write_text("0")
            raise Frozen(f"cgroup {group.name} did not report frozen within {timeout:.1f} s")
        time.sleep(0.002)


def _stopped(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # gone: it cannot run either
    return state in ("T", "t", "Z", "X")


def _signal_all(pids: list[int], sig: int) -> list[int]:
    done = []
    for pid in pids:
        try:
            os.kill(pid, sig)
            done.append(pid)
        except ProcessLookupError:
            continue
        except PermissionError as exc:
            raise Frozen(f"may not signal pid {pid}: {exc}") from None
    return done


@contextmanager
def frozen(run: Freezable, timeout: float = 2.0) -> Iterator[str]:
    """Freeze every process of `run` for the duration of the block; yields how ("cgroup.freeze"/"SIGSTOP").

    Always thaws, also when the block raises. Raises Frozen if the run could not be held still."""
    group = _cgroup_dir(run)
    if group is not None:
        _freeze_cgroup(group, timeout)
        try:
            yield "cgroup.freeze"
        finally:
            (group / "cgroup.freeze").write_text("0")
        return
    pids = _signal_all([p.pid for p in run.processes()], signal.SIGSTOP)
    try:
        deadline = time.monotonic() + timeout
        while not all(_stopped(pid) for pid in pids):
            if time.monotonic() > deadline:
                raise Frozen(f"processes {pids} did not stop within {timeout:.1f} s")
            time.sleep(0.002)
        yield "SIGSTOP"
    finally:
        _signal_all(pids, signal.SIGCONT)
