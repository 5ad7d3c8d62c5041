"""The one boundary to the outside world: start a submission, reach and observe it, tear it down.

    sandbox = choose_sandbox()              # probes the machine once
    run = sandbox.start(Launch(...))        # a Run: the submission's process tree
    sock = run.socket()                     # a client socket inside the run's network namespace
    run.processes(); run.stdout; run.stderr # observations from outside
    report = run.stop()                     # kills the whole tree, says whether anything survived

Tiers (best first) are implementations of `Sandbox`; every result records the tier it was graded in.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from grader.sandbox.output import CappedOutput
from grader.sandbox.run import Run, Teardown


@dataclass(frozen=True)
class Limits:
    nofile: int = 1024
    fsize_bytes: int = 16 << 20
    cpu_seconds: int = 120  # backstop; behaviours have their own wall-clock timeouts
    output_cap_bytes: int = 1 << 20
    memory_bytes: int = 512 << 20
    processes: int = 64


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
    tier: str
    description: str

    def start(self, launch: Launch) -> Run: ...


_chosen: Sandbox | None = None


def choose_sandbox(force: str | None = None) -> Sandbox:
    """The best tier this machine allows (or `force`: 'netns' / 'plain')."""
    global _chosen
    from grader.sandbox.local import NetnsSandbox, PlainSandbox, netns_available

    if force == "plain":
        return PlainSandbox()
    if force == "netns":
        why = netns_available()
        if why:
            from grader.errors import UsageError

            raise UsageError(f"the 'netns' isolation tier is not available here: {why}")
        return NetnsSandbox()
    if _chosen is None:
        why = netns_available()
        _chosen = NetnsSandbox() if why is None else PlainSandbox(fallback_reason=why)
    return _chosen


__all__ = ["CappedOutput", "Launch", "Limits", "Run", "Sandbox", "Teardown", "choose_sandbox", "socket"]
