"""The one boundary to the outside world: start a submission, reach and observe it, tear it down.

    sandbox = choose_sandbox()              # the best tier that passed its proof (probe.py), once
    run = sandbox.start(Launch(...))        # a RunView of a Run: the submission's process tree
    sock = run.socket()                     # a client socket inside the run's network namespace
    run.snapshot()                          # plain data: processes, threads, fds, sockets, CPU (observe.py)
    run.stdout; run.stderr; run.limit_hits()
    report = run.stop()                     # kills the whole tree, says whether anything survived

This `__init__` is a facade: it only re-exports, each name loaded on first use. Inside, imports run one way
(the import-linter contract in pyproject.toml):

    choose.py     choose_sandbox / require_tier / with_deadline: which tier grades here
    probe.py      the proof a tier works here (a trusted server started, observed, reached)
    tiers/        one file per tier (bwrap, netns, userns, plain), the registry and the levels in __init__
    run.py        Run: one started submission's process tree, its limits, its teardown
    host.py       what the tiers share about this machine (cgroups, interpreters, scratch copy, launcher argv)
    observe.py    Snapshot: plain data about the run's processes, read from /proc (or psutil)
    output.py, cgroup.py, freeze.py, intake.py, slots.py        leaves
    types.py      Launch, Limits, the Sandbox and RunView protocols, Teardown: the vocabulary above the sandbox
    standalone/   stdlib-only code that runs in other processes by path (launcher, /proc reader, sitecustomize)

Every result records the tier it was graded in; `require_tier("A")` refuses to grade below A.
"""


from __future__ import annotations

from typing import TYPE_CHECKING, Any

# name -> the module that defines it. Loaded on first use (PEP 562), so that importing one leaf
# (`grader.sandbox.types`, `grader.sandbox.observe`, ...) or the command line's parsers does not load every tier
# (~200 ms: psutil, ctypes, the probe).
_EXPORTS = {
    "choose_sandbox": "choose", "require_tier": "choose", "require_level": "choose", "level_of": "choose",
    "no_tier_message": "choose", "with_deadline": "choose", "FIX_HINT": "choose",
    "is_root": "host",
    "Snapshot": "observe",
    "CappedOutput": "output",
    "Run": "run",
    "TIERS": "tiers", "BY_NAME": "tiers", "Tier": "tiers", "from_choice": "tiers",
    "LEVELS": "types", "OBSERVE_MODES": "types", "TIER_NAMES": "types", "Launch": "types", "Limits": "types",
    "Output": "types", "RunView": "types", "Sandbox": "types", "Teardown": "types",
}

if TYPE_CHECKING:
    from grader.sandbox.choose import (
        FIX_HINT,
        choose_sandbox,
        level_of,
        no_tier_message,
        require_level,
        require_tier,
        with_deadline,
    )
    from grader.sandbox.host import is_root
    from grader.sandbox.observe import Snapshot
    from grader.sandbox.output import CappedOutput
    from grader.sandbox.run import Run
    from grader.sandbox.tiers import BY_NAME, TIERS, Tier, from_choice
    from grader.sandbox.types import (
        LEVELS,
        OBSERVE_MODES,
        TIER_NAMES,
        Launch,
        Limits,
        Output,
        RunView,
        Sandbox,
        Teardown,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'grader.sandbox' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"grader.sandbox.{module}"), name)


__all__ = ["BY_NAME", "FIX_HINT", "LEVELS", "OBSERVE_MODES", "TIERS", "TIER_NAMES", "CappedOutput", "Launch", "Limits",
           "Output", "Run", "RunView", "Sandbox", "Snapshot", "Teardown", "Tier", "choose_sandbox", "from_choice",
           "is_root", "level_of", "no_tier_message", "require_level", "require_tier", "with_deadline"]
