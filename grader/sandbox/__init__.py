"""The one boundary to the outside world: start a submission, reach and observe it, tear it down.

    sandbox = choose_sandbox()              # probes the machine once
    run = sandbox.start(Launch(...))        # a Run: the submission's process tree
    sock = run.socket()                     # a client socket inside the run's network namespace
    run.processes(); run.stdout; run.stderr # observations from outside
    report = run.stop()                     # kills the whole tree, says whether anything survived

Tiers, best first (see docs/sandbox.md for what each guarantees):

    A/bwrap   root + bubblewrap + cgroups: own uid per slot, all namespaces, read-only minimal filesystem,
              kernel-enforced process/memory/CPU limits                               (grader/sandbox/bwrap.py)
    B/netns   root without bubblewrap: own network + pid namespace, own uid per slot, cgroup limits, but
              the host filesystem stays readable                                      (grader/sandbox/local.py)
    B/userns  no root, unprivileged user namespaces: own user/net/pid namespace, limits by rlimits and
              polling, same uid as the grader                                        (grader/sandbox/userns.py)
    C/plain   no namespaces (macOS, locked-down Linux): a process on the real port, one run at a time
                                                                                      (grader/sandbox/local.py)

Every result records the tier it was graded in; `require_tier("A")` refuses to grade below A.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from grader.errors import UsageError
from grader.sandbox.output import CappedOutput
from grader.sandbox.run import Run, Teardown

LEVELS = ("A", "B", "C")  # best first
ORDER = ("bwrap", "netns", "userns", "plain")  # the order choose_sandbox() tries them in
LEVEL_OF = {"bwrap": "A", "netns": "B", "userns": "B", "plain": "C"}


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
    name: str  # bwrap / netns / userns / plain
    level: str  # A / B / C
    tier: str  # "bwrap (tier A)": what results record
    description: str
    fallback_reason: str | None  # why a better tier was not used ('' / None when this is the best)
    # Capabilities callers read (never the tier's name): a tier whose servers share the host's ports can
    # run one server at a time only.
    shares_host_port: bool

    def start(self, launch: Launch) -> Run: ...


def tier_label(name: str) -> str:
    return f"{name} (tier {LEVEL_OF[name]})"


def _problem(name: str, quick: bool = False) -> str | None:
    """None if tier `name` works here, else why not. `quick` skips the trial run."""
    if name == "bwrap":
        from grader.sandbox.bwrap import bwrap_problem

        return bwrap_problem(quick=quick)
    if name == "netns":
        from grader.sandbox.local import netns_problem

        return netns_problem(quick=quick)
    if name == "userns":
        from grader.sandbox.userns import userns_problem

        return userns_problem(quick=quick)
    return None


def _make(name: str, fallback_reason: str | None = None) -> Sandbox:
    if name == "bwrap":
        from grader.sandbox.bwrap import BwrapSandbox

        return BwrapSandbox(fallback_reason)
    if name == "netns":
        from grader.sandbox.local import NetnsSandbox

        return NetnsSandbox(fallback_reason)
    if name == "userns":
        from grader.sandbox.userns import UsernsSandbox

        return UsernsSandbox(fallback_reason)
    from grader.sandbox.local import PlainSandbox

    return PlainSandbox(fallback_reason)


_lock = threading.Lock()
_chosen: Sandbox | None = None
_forced: dict[str, Sandbox] = {}
_announced = False
_problems: dict[str, str] = {}  # tier name -> why it is not available (filled by the auto choice)


def choose_sandbox(force: str | None = None, *, announce: bool = True) -> Sandbox:
    """The best tier this machine allows, probed once per process (or `force`: a tier name such as
    'bwrap', 'netns', 'userns', 'plain', or a label such as 'bwrap (tier A)').

    When the best tier is below A, says so once on stderr, with the reason and the fix."""
    global _chosen, _announced
    if force and force != "auto":
        name = force.split()[0]
        if name not in LEVEL_OF:
            raise UsageError(f"unknown isolation tier {force!r} (known: {', '.join(ORDER)})")
        with _lock:
            if name not in _forced:
                why = _problem(name, quick=True)
                if why:
                    raise UsageError(f"the {tier_label(name)} isolation tier is not available here: {why}")
                _forced[name] = _make(name)
            return _forced[name]
    with _lock:
        if _chosen is None:
            for name in ORDER:
                why = _problem(name)
                if why is None:
                    _chosen = _make(name, f"not tier A: {_problems['bwrap']}" if _problems else None)
                    break
                _problems[name] = why
            assert _chosen is not None  # plain always works
        if announce and not _announced and _chosen.level != "A":
            _announced = True
            others = "; ".join(f"{tier_label(n)}: {w}" for n, w in _problems.items() if n != "bwrap")
            print(f"grader: isolation {_chosen.tier}: {_chosen.description}.\n"
                  f"grader: not tier A because {_problems.get('bwrap', '?')}"
                  + (f" ({others})" if others else "") + f". {FIX_HINT}", file=sys.stderr, flush=True)
        return _chosen


FIX_HINT = ("Tier A needs Linux, root and bubblewrap (`sudo apt-get install bubblewrap`, then run the grader "
            "with sudo); grades from lower tiers are advisory.")


def require_tier(tier_letter: str, force: str | None = None) -> Sandbox:
    """The sandbox to grade with, if it is at least tier `tier_letter` (A best); else a UsageError (exit 2)
    saying what this machine offers and how to get the required tier."""
    letter = (tier_letter or "").strip().upper()
    if letter not in LEVELS:
        raise UsageError(f"--require-isolation must be one of {', '.join(LEVELS)}, got {tier_letter!r}")
    sandbox = choose_sandbox(force, announce=False)
    if LEVELS.index(sandbox.level) > LEVELS.index(letter):
        if force and force != "auto":
            raise UsageError(f"isolation tier {letter} required, but --sandbox {sandbox.name} is {sandbox.tier}. "
                             f"Refusing to grade. Leave out --sandbox to use the best tier this machine offers.")
        why = (sandbox.fallback_reason or "").removeprefix("not tier A: ")
        raise UsageError(f"isolation tier {letter} required, but the best this machine offers is {sandbox.tier}"
                         + (f" ({why})" if why else "") + f". Refusing to grade. {FIX_HINT}")
    return sandbox


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


__all__ = ["CappedOutput", "Launch", "Limits", "Run", "Sandbox", "Teardown", "choose_sandbox", "require_tier",
           "socket", "tier_label", "with_deadline"]


class DeadlineSandbox:
    """A sandbox whose runs are all killed at one deadline: a behaviour's time budget, enforced by the
    sandbox (reason "timeout") well before the session's pytest-timeout backstop would end every behaviour."""

    def __init__(self, inner: Sandbox, seconds: float) -> None:
        self._inner = inner
        self._deadline = time.monotonic() + seconds

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def start(self, launch: Launch) -> Run:
        remaining = max(1.0, self._deadline - time.monotonic())
        wall = remaining if launch.limits.wall_seconds is None else min(remaining, launch.limits.wall_seconds)
        return self._inner.start(replace(launch, limits=replace(launch.limits, wall_seconds=wall)))


def with_deadline(sandbox: Sandbox, seconds: float) -> Sandbox:
    return DeadlineSandbox(sandbox, seconds)  # type: ignore[return-value]
