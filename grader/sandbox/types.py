"""The sandbox's vocabulary, for everyone above it: what to start (`Launch`, `Limits`), what a tier offers its
callers (`Sandbox`), and what a check may use of a started run (`RunView`). A leaf: imports no tier.
"""

from __future__ import annotations

import socket
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from grader.sandbox.observe import Snapshot
    from grader.sandbox.output import EvidenceFrames

# The facts about tiers that the command line and the checks need without loading a tier. The tiers' registry
# (grader/sandbox/tiers/__init__.py) is built from the tier classes and refuses to load if it disagrees.
TIER_NAMES: tuple[str, ...] = ("bwrap", "netns", "userns", "plain")  # best first
LEVELS: tuple[str, ...] = ("A", "B", "C")  # best first
OBSERVE_MODES: tuple[str, ...] = ("auto", "procfs", "psutil")
# The system calls a process waits in for readiness (an event loop: select, poll, epoll and their variants), as
# the main thread's syscall in a Snapshot names them; the observer, the evidence and the diagnosis read this one.
READINESS_SYSCALLS: frozenset[str] = frozenset(
    {"select", "pselect6", "poll", "ppoll", "epoll_wait", "epoll_pwait", "epoll_pwait2"})


@dataclass(frozen=True)
class Limits:
    nofile: int = 1024
    fsize_bytes: int = 16 << 20  # largest file the submission may write (RLIMIT_FSIZE)
    tmp_bytes: int = 16 << 20  # size of its private /tmp (tier A)
    cpu_seconds: int = 120  # RLIMIT_CPU backstop; behaviours have their own wall-clock timeouts
    output_cap_bytes: int = 1 << 20  # stdout/stderr kept for feedback (the rest is drained and counted)
    output_limit_bytes: int = 64 << 20  # stdout+stderr after which the run is killed (~1 MB/s is fine)
    memory_bytes: int = 256 << 20
    processes: int = 128  # processes + threads (a thread-per-connection server needs a few dozen)
    cpus: float = 1.0  # CPU bandwidth (tiers with a cgroup)
    wall_seconds: float | None = None  # the run is killed after this long (set by the engine per behaviour)


@dataclass(frozen=True)
class Launch:
    """What to start: `python ENTRY` in a copy of the submission folder."""

    submission: Path
    entry: str
    address: tuple[str, int] | None = None  # the port a server must listen on (plain tier serialises on it)
    limits: Limits = field(default_factory=Limits)
    env: dict[str, str] = field(default_factory=dict)
    pythonpath: tuple[Path, ...] = ()  # trusted helper dirs (e.g. an injected sitecustomize)
    run_as: tuple[int, int] | None = None  # (uid, gid) the submission runs as, when the grader is root


class Sandbox(Protocol):
    """What callers see of a tier (grader.sandbox.tiers.base.Tier): capabilities to read, never a name to compare."""

    name: str  # bwrap / netns / userns / plain
    level: str  # A / B / C
    description: str
    fallback_reason: str | None  # why a better tier was not used ('' / None when this is the best)
    shares_host_port: bool  # servers share the host's ports: one server at a time
    isolates_filesystem: bool
    per_run_uid: bool
    cgroup_limits: bool
    own_network: bool

    @property
    def tier(self) -> str: ...  # "bwrap (tier A)": what results record

    def start(self, launch: Launch) -> RunView: ...

    def require_free(self, address: tuple[str, int]) -> None: ...


@dataclass
class Teardown:
    """What `stop()` found: the exit code, and the pids still alive after the kill (a harness error)."""

    exit_code: int | None
    survivors: list[int] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.survivors


class Output(Protocol):
    """A run's stdout or stderr as the checks read it (grader.sandbox.output.CappedOutput)."""

    total: int  # bytes written, kept or not
    lines: list[tuple[float, str]]  # (seconds since start, line) as each line arrived (stdout of a script)
    pipe_inode: int | None  # the pipe's inode (stderr: the grader observer's channel is checked by it)
    frames: EvidenceFrames  # the grader observer's records, taken out of stderr
    closed: threading.Event  # set once the stream ended

    def text(self) -> str: ...

    def tail(self, max_chars: int = 2000) -> str: ...

    def wait_closed(self, timeout: float) -> bool: ...


@runtime_checkable
class RunView(Protocol):
    """What a check, the harness and the engine may use of a started run: the seam between grading and the
    sandbox. `grader.sandbox.run.Run` implements it for every tier, `tests/fakes.py`'s FakeRun for the unit
    layer; mypy (`make lint`) holds both to it. Everything about the processes comes through `snapshot()`."""

    tier: str  # "bwrap (tier A)": the tier it runs in, for results
    memory_peak: int | None  # bytes, from a cgroup, once stopped; None where not measured

    @property
    def stdout(self) -> Output: ...

    @property
    def stderr(self) -> Output: ...

    @property
    def observer_name(self) -> str: ...  # "procfs", "procfs as uid N", "psutil": named in "not observable"

    @property
    def exit_code(self) -> int | None: ...

    def snapshot(self) -> Snapshot: ...

    def cpu_seconds(self) -> float: ...  # the whole tree's, dead children included where the tier can

    def cap_cpu(self, cpus: float) -> bool: ...  # False: no CPU cgroup to cap with

    def throttled_seconds(self) -> float: ...

    def socket(self, family: int = socket.AF_INET) -> socket.socket: ...  # a client in the run's network

    def alive(self) -> bool: ...

    def frozen(self) -> AbstractContextManager[str]: ...  # every process held still; yields how

    def elapsed(self) -> float: ...

    def wait(self, timeout: float) -> int | None: ...

    def limit_hits(self) -> dict[str, str]: ...

    def stop(self) -> Teardown: ...
