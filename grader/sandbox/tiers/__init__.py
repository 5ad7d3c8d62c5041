"""The tiers, best first, and the facts about them that everyone else reads from here (docs/sandbox.md):

    A/bwrap   root + bubblewrap + cgroups: own uid per slot, all namespaces, read-only minimal filesystem,
              kernel-enforced process/memory/CPU limits                                         (bwrap.py)
    B/netns   root without bubblewrap: own network + pid namespace, own uid per slot, cgroup limits, but
              the host filesystem stays readable                                                (netns.py)
    B/userns  no root, unprivileged user namespaces: own user/net/pid namespace, limits by rlimits and
              polling, same uid as the grader                                                   (userns.py)
    C/plain   no namespaces (macOS, locked-down Linux): a process on the real port, one run at a time
                                                                                                (plain.py)

Tiers are types (base.py) with declared capabilities (`shares_host_port`, `isolates_filesystem`,
`per_run_uid`, `cgroup_limits`, `own_network`); callers read those, never a name.
"""

from __future__ import annotations

import json

from grader.sandbox.tiers.base import Tier
from grader.sandbox.tiers.bwrap import BwrapSandbox
from grader.sandbox.tiers.netns import NetnsSandbox
from grader.sandbox.tiers.plain import PlainSandbox
from grader.sandbox.tiers.userns import UsernsSandbox
from grader.sandbox.types import LEVELS, OBSERVE_MODES, TIER_NAMES

TIERS: tuple[type[Tier], ...] = (BwrapSandbox, NetnsSandbox, UsernsSandbox, PlainSandbox)  # best first
BY_NAME: dict[str, type[Tier]] = {t.name: t for t in TIERS}
if tuple(t.name for t in TIERS) != TIER_NAMES or not {t.level for t in TIERS} <= set(LEVELS):
    raise ImportError("grader.sandbox.types.TIER_NAMES/LEVELS disagree with the tiers registered here")



def from_choice(choice: str) -> Tier:
    """The tier another process chose (`Tier.choice()`), taken over as it is: no probe, no announcement."""
    data = json.loads(choice)
    cls = BY_NAME[data["name"]]
    return cls(data.get("fallback_reason"), observe=data.get("observe") or "auto", forced=bool(data.get("forced")))


__all__ = ["BY_NAME", "LEVELS", "OBSERVE_MODES", "TIERS", "BwrapSandbox", "NetnsSandbox", "PlainSandbox", "Tier",
           "UsernsSandbox", "from_choice"]
