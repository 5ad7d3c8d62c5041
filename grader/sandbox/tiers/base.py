"""What every tier is: a type with declared capabilities, a `problem()` and one start skeleton.

Callers read capabilities (`shares_host_port`, `isolates_filesystem`, ...), never a tier's name. A tier's
`start()` is always the same sequence: hold what the run needs (a slot uid, a cgroup, a port lock), spawn
the trusted launcher, hand the held resources to the Run (which releases them when it stops), attach the
observer; if anything fails before the Run exists, everything held is released here.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from grader.i18n import _
from grader.sandbox import slots
from grader.sandbox.host import require_free, unprivileged
from grader.sandbox.observe import Observer, PsutilObserver, UidObserver

if TYPE_CHECKING:
    from grader.sandbox.run import Run
    from grader.sandbox.types import Launch, RunView

CAP_SYS_PTRACE = 19
CAP_SYS_ADMIN = 21


def effective_caps() -> int | None:
    """The grader's effective capability mask (None off Linux)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        return None
    return None


def has_cap(bit: int) -> bool:
    caps = effective_caps()
    return caps is not None and bool(caps >> bit & 1)


def container_hint() -> str:
    """Which of root's capabilities are missing, said the way a user recognises it."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return ""
    missing = [name for bit, name in ((CAP_SYS_ADMIN, "CAP_SYS_ADMIN"), (CAP_SYS_PTRACE, "CAP_SYS_PTRACE"))
               if not has_cap(bit)]
    return _(": {capabilities} missing (a container?)").format(capabilities=" and ".join(missing)) if missing else ""


class Held:
    """Resources a run holds until it stops, released last-acquired first (also when a start fails)."""

    def __init__(self) -> None:
        self._releases: list[Callable[[], None]] = []
        self.uid: tuple[int, int] | None = None

    def add(self, release: Callable[[], None]) -> None:
        self._releases.append(release)

    def slot_uid(self, launch: Launch, needed: bool) -> tuple[int, int] | None:
        """The uid the run is started as: --run-as, else (when `needed`: root) a fresh slot's own uid."""
        uid = unprivileged(launch.run_as)
        if uid is None and needed:
            slot = slots.acquire()
            self.add(slot.release)
            uid = (slot.uid, slot.gid)
        self.uid = uid
        return uid

    def release(self) -> None:
        while self._releases:
            try:
                self._releases.pop()()
            except Exception:  # noqa: BLE001 - release the rest; nothing left to report to
                continue


class Tier:
    """Base of the four tiers. Subclasses set the capabilities and implement `problem` and `_spawn`."""

    # Not ClassVar: the Sandbox protocol (types.py) declares these as attributes, and netns/userns set
    # cgroup_limits per instance (from the machine's cgroup layout).
    name: str = ""
    level: str = ""  # A best
    description: str = ""
    # Capabilities callers read:
    shares_host_port: bool = False  # servers use the host's real port: one server at a time
    isolates_filesystem: bool = False  # the submission sees a minimal read-only root, not the host's
    per_run_uid: bool = False  # (as root) every parallel run has its own unprivileged uid
    cgroup_limits: bool = False  # memory/process/CPU limits enforced by the kernel
    own_network: bool = True  # a network namespace of its own (socket states only the run's)

    def __init__(self, fallback_reason: str | None = None, observe: str = "auto", *, forced: bool = False,
                 rejected: dict[str, str] | None = None) -> None:
        self.fallback_reason = fallback_reason  # why a better tier was not used (None: this is the best)
        self.observe = observe  # how runs are observed: auto (/proc), procfs, psutil
        self.forced = forced  # asked for by name (--sandbox), not chosen as the best
        self.rejected = dict(rejected or {})  # better tiers tried first: label -> why not

    def choice(self) -> str:
        """This choice as a value another process can take over without probing again (`--grader-tier`)."""
        return json.dumps({"name": self.name, "observe": self.observe, "forced": self.forced,
                           "fallback_reason": self.fallback_reason})

    @classmethod
    def label(cls) -> str:
        """How results and messages name the tier: "bwrap (tier A)" (the one place it is built)."""
        return f"{cls.name} (tier {cls.level})"

    @property
    def tier(self) -> str:
        return self.label()

    @classmethod
    def problem(cls, quick: bool = False) -> str | None:
        """None if this tier can work on this machine, else why not (`quick`: without a trial start)."""
        return None

    def start(self, launch: Launch) -> RunView:
        held = Held()
        try:
            run = self._spawn(launch, held)
        except BaseException:
            held.release()
            raise
        run.held = held
        run.tier = self.tier
        try:
            run.observer = self.observer_for(held.uid)
        except BaseException:
            run.stop()  # the submission is already running: never leave it behind
            raise
        return run

    def _spawn(self, launch: Launch, held: Held) -> Run:
        raise NotImplementedError

    def require_free(self, address: tuple[str, int]) -> None:
        """A UsageError now (not once per behaviour) when the runs would need a host port that is taken."""
        if self.shares_host_port:
            require_free(address)

    @property
    def observes_with_psutil(self) -> bool:
        """--observe psutil, or no /proc to read (macOS, Windows): psutil is what there is."""
        return self.observe == "psutil" or (self.observe == "auto" and sys.platform != "linux")

    def observer_for(self, uid: tuple[int, int] | None) -> Observer:
        """How this run is observed: /proc read here, /proc read as the run's uid (root without
        CAP_SYS_PTRACE may not read another uid's fds), or psutil (--observe psutil, or no /proc)."""
        if self.observes_with_psutil:
            return PsutilObserver(sockets_visible=not self.own_network)
        if uid is not None and sys.platform == "linux" and os.geteuid() == 0 and not has_cap(CAP_SYS_PTRACE):
            return UidObserver(*uid)
        return Observer()
