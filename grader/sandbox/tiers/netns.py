"""B/netns, root Linux without bubblewrap: each run in its own network + pid namespace (launch.py), as its own
slot uid, in a cgroup with limits where the machine has one. The grader reaches the server through a helper
thread that setns()es into the run's network namespace and creates client sockets there; the socket keeps its
namespace, so any thread may use it afterwards. The host filesystem stays readable to the submission (that
is what tier A adds).
"""

from __future__ import annotations

import shutil
import subprocess
import time

from grader.i18n import _
from grader.sandbox.cgroup import RunCgroup
from grader.sandbox.host import cgroup_layout, launcher_argv, netns_problem, prepare_scratch, submission_env
from grader.sandbox.run import NamespacedRun, Run
from grader.sandbox.tiers.base import Held, Tier
from grader.sandbox.types import Launch


class NetnsRun(NamespacedRun):
    pass


class NetnsSandbox(Tier):
    name, level = "netns", "B"
    per_run_uid = True

    def __init__(self, fallback_reason: str | None = None, observe: str = "auto", *, forced: bool = False,
                 rejected: dict[str, str] | None = None) -> None:
        super().__init__(fallback_reason, observe, forced=forced, rejected=rejected)
        layout = cgroup_layout()
        self._layout = layout if layout is not None and layout.v2 is not None else None
        self.cgroup_limits = bool(self._layout and self._layout.limits)
        limits = _("cgroup limits ({kind})").format(kind=self._layout.kind) if self._layout and self._layout.limits \
            else _("limits by rlimits and polling")
        self.description = _("own network and pid namespace and uid per run, {limits}; the host filesystem is "
                             "readable").format(limits=limits)

    @classmethod
    def problem(cls, quick: bool = False) -> str | None:
        return netns_problem(quick)

    def _spawn(self, launch: Launch, held: Held) -> Run:
        lim = launch.limits
        uid = held.slot_uid(launch, needed=True)
        scratch = prepare_scratch(launch, readable=True)
        held.add(lambda: shutil.rmtree(scratch, ignore_errors=True))
        cg = None
        if self._layout is not None:
            cg = RunCgroup.create(self._layout, memory_bytes=lim.memory_bytes, processes=lim.processes,
                                  cpus=lim.cpus)
            held.add(cg.remove)
        t0 = time.monotonic()
        popen = subprocess.Popen(launcher_argv(launch, scratch, "--netns", "--pidns", cgroup=cg, uid=uid),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=submission_env(launch), start_new_session=True)
        return NetnsRun(popen, scratch, lim, t0, cgroup=cg)
