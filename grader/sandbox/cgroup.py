"""A cgroup per run: whole-tree kill, CPU accounting, and the process / memory / CPU limits.

Two layouts are supported, found by reading /proc/self/mountinfo and /proc/self/cgroup once:

* **pure v2 with controllers** (systemd hosts, GitHub runners): one group per run under
  `<v2>/grader/` with `pids.max`, `memory.max`, `memory.swap.max`, `cpu.max`.
* **hybrid** (v1 controllers + an empty v2 hierarchy, e.g. /sys/fs/cgroup/unified; this project's
  machines): the v2 group still gives `cgroup.kill`, `cgroup.events` and `cpu.stat` for the whole tree, and
  a sibling group in each v1 hierarchy (pids, memory, cpu) does the limits.

Groups are created under the grader's *own* group in each hierarchy (so whatever limits the grader runs
under also bound its submissions), except on pure v2 where the own group holds processes and so cannot
hand controllers down ("no internal processes"): there the v2 root is used when we may write to it.

Every process of a run joins all its groups before the submission is exec'd (launch.py writes its own pid
into each `cgroup.procs`), so nothing the submission starts can be outside them.
"""

from __future__ import annotations

import errno
import itertools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

V1_CONTROLLERS = ("pids", "memory", "cpu")
CAP_PERIOD_US = 10_000  # the CPU bandwidth period of a capped run (RunCgroup.set_cpus)
_counter = itertools.count()


@dataclass(frozen=True)
class CgroupLayout:
    v2: Path | None  # parent dir of the per-run v2 groups (tracking: kill, events, cpu.stat)
    v1: dict[str, Path] = field(default_factory=dict)  # controller -> parent dir of per-run v1 groups
    v2_limits: bool = False  # the v2 parent hands pids/memory/cpu down
    problem: str = ""  # why there is no usable layout ('' when there is one)

    @property
    def limits(self) -> bool:
        return self.v2_limits or all(c in self.v1 for c in V1_CONTROLLERS)

    @property
    def kind(self) -> str:
        if self.v2 is None:
            return "none"
        if self.v2_limits:
            return "v2"
        return "hybrid" if self.v1 else "v2 (tracking only)"


def _mounts() -> tuple[Path | None, dict[str, Path]]:
    v2: Path | None = None
    v1: dict[str, Path] = {}
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(fields) < 5 or len(rfields) < 3:
                continue
            fstype, mnt, root = rfields[0], fields[4], fields[3]
            if root != "/":
                continue  # a bind of part of a hierarchy: not where our own path is relative to
            if fstype == "cgroup2" and v2 is None:
                v2 = Path(mnt)
            elif fstype == "cgroup":
                for opt in rfields[2].split(","):
                    if opt in V1_CONTROLLERS and opt not in v1:
                        v1[opt] = Path(mnt)
    return v2, v1


def _own_paths() -> tuple[str | None, dict[str, str]]:
    v2_path: str | None = None
    v1_paths: dict[str, str] = {}
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            hid, ctrls, path = line.rstrip("\n").split(":", 2)
            if hid == "0" and ctrls == "":
                v2_path = path
            for c in ctrls.split(","):
                if c in V1_CONTROLLERS:
                    v1_paths[c] = path
    return v2_path, v1_paths


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _enable_controllers(group: Path, wanted: tuple[str, ...]) -> bool:
    have = set(_read(group / "cgroup.subtree_control").split())
    missing = [c for c in wanted if c not in have]
    if not missing:
        return True
    try:
        _write(group / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))
    except OSError:
        return False
    return True


def detect() -> CgroupLayout:
    """Where per-run groups can be made on this machine (needs write access: root)."""
    if not Path("/proc/self/cgroup").exists():
        return CgroupLayout(None, problem="no cgroups (not Linux)")
    try:
        v2_mnt, v1_mnts = _mounts()
        v2_own, v1_own = _own_paths()
    except OSError as exc:
        return CgroupLayout(None, problem=f"cannot read the cgroup layout: {exc}")
    if v2_mnt is None or v2_own is None:
        return CgroupLayout(None, problem="no cgroup v2 hierarchy mounted (needed for whole-tree kill)")
    own = v2_mnt / v2_own.lstrip("/")
    if not (own / "cgroup.procs").exists():
        return CgroupLayout(None, problem=f"the grader's own cgroup {own} is not visible")
    if not os.access(own, os.W_OK):
        return CgroupLayout(None, problem=f"cannot create cgroups under {own} (not root, not delegated)")
    # v2 controllers: usable when some parent we may write to can hand them down.
    wanted = V1_CONTROLLERS
    for parent in ([own] if own == v2_mnt else [own, v2_mnt]):
        avail = set(_read(parent / "cgroup.controllers").split())
        if not set(wanted) <= avail or not os.access(parent, os.W_OK):
            continue
        if _enable_controllers(parent, wanted):
            return CgroupLayout(parent / "grader", v2_limits=True)
    v1: dict[str, Path] = {}
    for c in V1_CONTROLLERS:
        if c in v1_mnts and c in v1_own:
            d = v1_mnts[c] / v1_own[c].lstrip("/")
            if os.access(d, os.W_OK):
                v1[c] = d / "grader"
    return CgroupLayout(own / "grader", v1=v1)


@dataclass
class RunCgroup:
    """The groups of one run. `join_paths` are the `cgroup.procs` files the launcher writes its pid into."""

    layout: CgroupLayout
    v2: Path
    v1: dict[str, Path]
    memory_bytes: int
    processes: int

    @classmethod
    def create(cls, layout: CgroupLayout, *, memory_bytes: int, processes: int, cpus: float) -> RunCgroup:
        assert layout.v2 is not None
        n = next(_counter)
        if n == 0:
            remove_stale(layout)
        name = f"run-{os.getpid()}-{n}-{time.monotonic_ns() % 10**9}"
        layout.v2.mkdir(exist_ok=True)
        if layout.v2_limits:
            _enable_controllers(layout.v2, V1_CONTROLLERS)
        v2 = layout.v2 / name
        v2.mkdir()
        v1: dict[str, Path] = {}
        group = cls(layout, v2, v1, memory_bytes, processes)
        try:
            period = 100_000
            quota = max(1000, int(period * cpus))
            if layout.v2_limits:
                _write(v2 / "pids.max", str(processes))
                _write(v2 / "memory.max", str(memory_bytes))
                if (v2 / "memory.swap.max").exists():
                    _write(v2 / "memory.swap.max", "0")
                _write(v2 / "cpu.max", f"{quota} {period}")
            for c, parent in layout.v1.items():
                parent.mkdir(exist_ok=True)
                d = parent / name
                d.mkdir()
                v1[c] = d
                if c == "pids":
                    _write(d / "pids.max", str(processes))
                elif c == "memory":
                    _write(d / "memory.limit_in_bytes", str(memory_bytes))
                    if (d / "memory.memsw.limit_in_bytes").exists():
                        _write(d / "memory.memsw.limit_in_bytes", str(memory_bytes))
                elif c == "cpu":
                    _write(d / "cpu.cfs_period_us", str(period))
                    _write(d / "cpu.cfs_quota_us", str(quota))
        except OSError:
            group.remove()
            raise
        return group

    @property
    def join_paths(self) -> list[Path]:
        return [self.v2 / "cgroup.procs", *(d / "cgroup.procs" for d in self.v1.values())]

    def set_cpus(self, cpus: float, period_us: int = CAP_PERIOD_US) -> bool:
        """Change the run's CPU bandwidth to `cpus` cores (a short period: a capped server is held back a few
        ms at a time, never a tenth of a second). False where this layout has no CPU controller."""
        quota = max(1000, int(period_us * cpus))
        try:
            if self.layout.v2_limits:
                _write(self.v2 / "cpu.max", f"{quota} {period_us}")
                return True
            d = self.v1.get("cpu")
            if d is None:
                return False
            # unlimited first, so no intermediate quota/period pair is refused
            _write(d / "cpu.cfs_quota_us", "-1")
            _write(d / "cpu.cfs_period_us", str(period_us))
            _write(d / "cpu.cfs_quota_us", str(quota))
            return True
        except OSError:
            return False

    def throttled_seconds(self) -> float | None:
        """How long the CPU controller has held the run back (its bandwidth used up), or None where unknown."""
        if self.layout.v2_limits:
            path, key, unit = self.v2 / "cpu.stat", "throttled_usec", 1e6
        elif "cpu" in self.v1:
            path, key, unit = self.v1["cpu"] / "cpu.stat", "throttled_time", 1e9
        else:
            return None
        for line in _read(path).splitlines():
            k, _, v = line.partition(" ")
            if k == key and v.strip().isdigit():
                return int(v) / unit
        return None

    # --- observations -------------------------------------------------------------------------------
    def pids(self) -> list[int]:
        return [int(x) for x in _read(self.v2 / "cgroup.procs").split()]

    def populated(self) -> bool:
        for line in _read(self.v2 / "cgroup.events").splitlines():
            k, _, v = line.partition(" ")
            if k == "populated":
                return v.strip() == "1"
        return bool(self.pids())

    def cpu_seconds(self) -> float | None:
        for line in _read(self.v2 / "cpu.stat").splitlines():
            k, _, v = line.partition(" ")
            if k == "usage_usec":
                return int(v) / 1e6
        return None

    def _kv(self, path: Path, key: str) -> int:
        for line in _read(path).splitlines():
            k, _, v = line.partition(" ")
            if k == key:
                try:
                    return int(v)
                except ValueError:
                    return 0
        return 0

    def process_limit_hits(self) -> int:
        if self.layout.v2_limits:
            return self._kv(self.v2 / "pids.events", "max")
        d = self.v1.get("pids")
        return self._kv(d / "pids.events", "max") if d else 0

    def oom_kills(self) -> int:
        if self.layout.v2_limits:
            return self._kv(self.v2 / "memory.events", "oom_kill")
        d = self.v1.get("memory")
        return self._kv(d / "memory.oom_control", "oom_kill") if d else 0

    def memory_peak(self) -> int | None:
        p = (self.v2 / "memory.peak") if self.layout.v2_limits else (
            self.v1["memory"] / "memory.max_usage_in_bytes" if "memory" in self.v1 else None)
        if p is None:
            return None
        try:
            return int(_read(p).strip() or "x")
        except ValueError:
            return None

    # --- teardown -----------------------------------------------------------------------------------
    def kill(self) -> None:
        """SIGKILL every process of the tree at once (the kernel walks the group; no pid races)."""
        try:
            _write(self.v2 / "cgroup.kill", "1")
        except OSError:  # kernel < 5.14: signal what we can see
            for pid in self.pids():
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass

    def wait_empty(self, timeout: float) -> list[int]:
        """Wait until no process is left; the pids still there when the time is up."""
        deadline = time.monotonic() + timeout
        while self.populated() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.pids() if self.populated() else []

    def remove(self) -> None:
        for d in [*self.v1.values(), self.v2]:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        break
                    time.sleep(0.01)


def remove_stale(layout: CgroupLayout) -> list[str]:
    """Remove the empty groups of runs whose grader process is gone (killed before its teardown); a group
    that still holds processes stays (rmdir refuses)."""
    removed = []
    for parent in [*layout.v1.values(), layout.v2]:
        if parent is None or not parent.is_dir():
            continue
        for d in parent.glob("run-*"):
            try:
                pid = int(d.name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if pid == os.getpid() or Path(f"/proc/{pid}").exists():
                continue
            try:
                d.rmdir()
                removed.append(str(d))
            except OSError:
                pass
    return removed
