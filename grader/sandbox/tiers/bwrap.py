"""Tier A: bubblewrap + a cgroup per run + a separate unprivileged uid per parallel slot (root Linux).

    grader (root)
      └ launch.py --exec         joins the run's cgroups, sets rlimits, exposes the interpreter (see below)
          └ setpriv --reuid U    drops to the slot's uid BEFORE bwrap (bwrap --uid as root would keep root)
              └ bwrap            user/pid/net/ipc/uts/cgroup/mount namespaces, --disable-userns,
                  │              --die-with-parent, --new-session; read-only minimal root
                  └ bwrap init   pid 1 of the run: reaps, and its exit kills the namespace
                      └ python ENTRY   cwd /submission (read-only), /tmp a small tmpfs, stdin /dev/null

What the submission sees: /usr (and the /bin, /lib... links), the interpreter and the venv read-only at
their own paths, its own copy of the submission read-only at /submission, a sized /tmp, a private /proc and
/dev, and synthetic /etc/passwd, /etc/group, /etc/hosts. Nothing of the grader, the course (reference
solutions, hidden tests) or the results. Its environment is the minimal one bwrap itself is started with
(bwrap's pid 1 keeps it in /proc/1/environ, bubblewrap #725); the bwrap options travel through a pipe
(`--args FD`), so /proc/1/cmdline shows none of them (bubblewrap #503).

The interpreter may live where the slot's uid cannot go (pyenv under /root, mode 700): launch.py covers
such ancestors with a tmpfs holding only bind mounts of the interpreter and venv, in a private mount
namespace, so bwrap (running as the slot uid) can bind them. The host's mounts never change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from grader.i18n import _
from grader.runtime import student_python
from grader.sandbox.cgroup import RunCgroup
from grader.sandbox.host import (
    TCP_HASH,
    cgroup_layout,
    is_root,
    prepare_scratch,
    python_paths,
    submission_env,
)
from grader.sandbox.run import NamespacedRun
from grader.sandbox.standalone import LAUNCHER
from grader.sandbox.tiers.base import Held, Tier
from grader.sandbox.types import Launch, Limits

SUBMISSION_DIR = "/submission"
SITE_DIR = "/opt/grader/site"
TOP_LEVEL = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
ETC_FILES = ("ld.so.cache", "localtime")


def bwrap_problem(quick: bool = False) -> str | None:
    """None if tier A works here, else why not (the first thing missing)."""
    if sys.platform != "linux":
        return f"bubblewrap and cgroups are Linux-only (this is {sys.platform})"
    if not is_root():
        return "not running as root (per-run cgroups and uids need root)"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    layout = cgroup_layout()
    if layout is None or layout.v2 is None:
        return f"no usable cgroup: {layout.problem if layout else 'unknown'}"
    if not layout.limits:
        return (f"cgroup controllers pids/memory/cpu cannot be used here ({layout.kind}); "
                f"enable them for the grader's cgroup")
    return None  # whether it really works is proven by a trial run (probe.py)


class BwrapRun(NamespacedRun):
    pass


class BwrapSandbox(Tier):
    name, level = "bwrap", "A"
    isolates_filesystem = per_run_uid = cgroup_limits = True

    def __init__(self, fallback_reason: str | None = None, observe: str = "auto", *, forced: bool = False,
                 rejected: dict[str, str] | None = None) -> None:
        super().__init__(fallback_reason, observe, forced=forced, rejected=rejected)
        self._bwrap = shutil.which("bwrap") or "bwrap"
        self._setpriv = shutil.which("setpriv") or "setpriv"
        layout = cgroup_layout()
        self.description = _("bubblewrap, own uid and namespaces per run, read-only minimal filesystem, "
                             "cgroup limits ({kind})").format(kind=layout.kind if layout else "?")

    @classmethod
    def problem(cls, quick: bool = False) -> str | None:
        return bwrap_problem(quick)

    def _spawn(self, launch: Launch, held: Held) -> BwrapRun:
        lim = launch.limits
        layout = cgroup_layout()
        if layout is None or layout.v2 is None:
            raise OSError("no usable cgroup for tier A")
        uid, gid = held.slot_uid(launch, needed=True)  # type: ignore[misc]
        fds: list[int] = []
        try:
            scratch = prepare_scratch(launch, readable=True)
            held.add(lambda: shutil.rmtree(scratch, ignore_errors=True))
            cg = RunCgroup.create(layout, memory_bytes=lim.memory_bytes, processes=lim.processes, cpus=lim.cpus)
            held.add(cg.remove)
            sites = [f"{SITE_DIR}{i}" for i in range(len(launch.pythonpath))]
            data = {"/etc/passwd": f"student:x:{uid}:{gid}:student:/tmp:/bin/sh\n",
                    "/etc/group": f"student:x:{gid}:\n",
                    "/etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
                    "/etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n"}
            opts = _bwrap_options(launch, scratch, sites, lim)
            for dest, text in data.items():
                fds.append(_data_fd(text.encode()))
                opts += ["--ro-bind-data", str(fds[-1]), dest]
            opts += ["--remount-ro", "/", "--chdir", SUBMISSION_DIR]
            fds.append(_data_fd(b"\0".join(a.encode() for a in opts) + b"\0"))
            inner = [self._setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--",
                     self._bwrap, "--args", str(fds[-1]), "--", student_python(), launch.entry]
            argv = [sys.executable, "-I", "-S", str(LAUNCHER), "--tcp-hash", str(TCP_HASH)]
            for procs_file in cg.join_paths:
                argv += ["--cgroup-procs", str(procs_file)]
            for p in [*python_paths(), *(str(p) for p in launch.pythonpath), str(scratch)]:
                argv += ["--expose", p]
            argv += ["--nofile", str(lim.nofile), "--fsize", str(lim.fsize_bytes), "--cpu", str(lim.cpu_seconds),
                     "--exec", "--", *inner]
            t0 = time.monotonic()
            popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=submission_env(launch, sites), pass_fds=fds,
                                     start_new_session=True)
        finally:
            for fd in fds:
                os.close(fd)
        return BwrapRun(popen, scratch, lim, t0, cgroup=cg)


def _data_fd(data: bytes) -> int:
    """A pipe's read end holding `data` (small: it must fit the pipe buffer)."""
    r, w = os.pipe()
    try:
        os.write(w, data)
    finally:
        os.close(w)
    return r


def _bwrap_options(launch: Launch, scratch: Path, sites: list[str], lim: Limits) -> list[str]:
    o = ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
         "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
    for name in TOP_LEVEL:
        p = Path("/", name)
        if p.is_symlink():
            o += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            o += ["--ro-bind", str(p), str(p)]
    for name in ETC_FILES:
        if Path("/etc", name).exists():
            o += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    # /tmp and /dev/shm first: an interpreter or venv that lives under /tmp (a CI clone, say) is bound
    # on top of the empty tmpfs below, instead of being hidden by it.
    o += ["--proc", "/proc", "--dev", "/dev",
          "--perms", "1777", "--size", str(lim.tmp_bytes), "--tmpfs", "/tmp",  # noqa: S108 - its own
          "--perms", "1777", "--size", str(1 << 20), "--tmpfs", "/dev/shm"]  # noqa: S108
    for path in python_paths():
        if not (path == "/usr" or path.startswith("/usr/")):
            o += ["--ro-bind", path, path]
    for src, dest in zip(launch.pythonpath, sites, strict=True):
        o += ["--ro-bind", str(src), dest]
    o += ["--ro-bind", str(scratch / "sub"), SUBMISSION_DIR]
    return o
