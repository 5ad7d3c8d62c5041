"""Choosing the tier to grade in: the best one this machine allows, proven with a trusted server first.

    sandbox = choose_sandbox()            # the best tier that passed its proof (probe.py), once per process
    sandbox = require_tier("A")           # the same, or a UsageError (exit 2) saying what is missing
    sandbox = with_deadline(sandbox, 30)  # every run it starts is killed at one deadline
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import replace
from typing import Any

from grader.errors import UsageError
from grader.i18n import N_, _
from grader.runtime import current
from grader.sandbox.probe import prove as prove_tier
from grader.sandbox.tiers import BY_NAME, LEVELS, OBSERVE_MODES, TIERS, Tier
from grader.sandbox.types import Launch, RunView, Sandbox


def choose_sandbox(force: str | None = None, *, announce: bool = True, observe: str = "auto") -> Tier:
    """The best tier this machine allows (or `force`: a tier name such as 'bwrap', 'netns', 'userns',
    'plain', or a label such as 'bwrap (tier A)'), as a value: the caller keeps it and passes it down (to
    the grading session too, `Tier.choice()`), so a process chooses once and nothing is kept here.

    A tier is chosen only after a trusted server started in it was observed and reached (probe.py, ~0.3 s);
    a tier that fails is skipped with the reason (`rejected` on the chosen tier). When the choice is below A,
    says so on stderr (`announce`), with the reasons and the fix."""
    if observe not in OBSERVE_MODES:
        raise UsageError(_("unknown observation backend {name} (known: {known})").format(
            name=repr(observe), known=", ".join(OBSERVE_MODES)))
    current()  # the interpreter submissions run with: a student runtime that does not match stops us here

    if force and force != "auto":
        cls = BY_NAME.get(force.split()[0])
        if cls is None:
            raise UsageError(_("unknown isolation tier {name} (known: {known})").format(
                name=repr(force), known=", ".join(BY_NAME)))
        why = cls.problem(quick=True)
        if why:
            raise UsageError(_("the {tier} isolation tier is not available here: {why}").format(
                tier=cls.label(), why=why))
        return cls(observe=observe, forced=True)
    rejected: dict[str, str] = {}  # "bwrap (tier A)" -> why it is not used here
    for cls in TIERS:
        why = cls.problem()
        if why is None:
            candidate = cls(_fallback_reason(rejected), observe=observe, rejected=rejected)
            why = prove_tier(candidate)
            if why is None:
                break
        rejected[cls.label()] = why
    else:  # not even the plain tier could observe a trusted server: every behaviour would be a grader
        raise UsageError(no_tier_message(rejected))  # error, so stop before grading, once
    if announce and candidate.level != "A":
        print("grader: " + _("isolation {tier}: {description}.").format(tier=candidate.tier,
                                                                         description=candidate.description)
              + "\ngrader: " + _("not tier A because {why}.").format(
                  why=(candidate.fallback_reason or "?").removeprefix("not tier A: ")) + " " + _(FIX_HINT),
              file=sys.stderr, flush=True)
    return candidate


def _fallback_reason(rejected: dict[str, str]) -> str | None:
    if not rejected:
        return None
    return "not tier A: " + "; ".join(f"{label}: {why}" for label, why in rejected.items())


def no_tier_message(problems: dict[str, str]) -> str:
    """One message for "no tier passed its probe": each tier's reason, and the fix for the commonest cause."""
    lines = [_("no isolation tier can observe a program on this machine, so nothing was graded (every "
               "behaviour would be a grader error). Each tier was tried with a trusted server:")]
    lines += [f"  {label}: {why}" for label, why in problems.items()]
    closed = sorted({m.group(1) for why in problems.values()
                     for m in [re.search(r"(\S+) \(where the interpreter or the submission lives\) is closed", why)]
                     if m})
    if closed:
        lines.append(_("Fix: {folders} is closed to other users, and the runs (another uid) cannot reach the "
                       "interpreter in it. Install Python where every user can read it (a container's "
                       "/usr/bin/python3, or a venv outside it), or open the folder (`chmod o+x {folders}`), or "
                       "run the grader with CAP_SYS_ADMIN.").format(folders=", ".join(closed)))
    else:
        lines.append(_("Fix: {hint}").format(hint=_(FIX_HINT)))
    return "\n".join(lines)


FIX_HINT = N_("Tier A needs Linux, root and bubblewrap (`sudo apt-get install bubblewrap`, then run the grader "
            "with sudo); on a machine the student controls, grades from lower tiers are advisory (in a "
            "container such as Gradescope's, the container isolates the run).")


def require_tier(tier_letter: str, force: str | None = None, observe: str = "auto") -> Tier:
    """The sandbox to grade with, if it is at least tier `tier_letter` (A best); else a UsageError (exit 2)
    saying what this machine offers and how to get the required tier."""
    letter = level_of(tier_letter)
    return require_level(choose_sandbox(force, announce=False, observe=observe), letter)


def level_of(tier_letter: str) -> str:
    """`--require-isolation`'s value as a level ("A"), or a UsageError naming the levels there are."""
    letter = (tier_letter or "").strip().upper()
    if letter not in LEVELS:
        raise UsageError(_("--require-isolation must be one of {levels}, got {value}").format(
            levels=", ".join(LEVELS), value=repr(tier_letter)))
    return letter


def require_level(sandbox: Tier, tier_letter: str) -> Tier:
    """`sandbox` (a tier already chosen) if it is at least tier `tier_letter`; else a UsageError (exit 2)."""
    letter = level_of(tier_letter)
    if LEVELS.index(sandbox.level) > LEVELS.index(letter):
        if sandbox.forced:
            raise UsageError(_("isolation tier {letter} required, but --sandbox {name} is {tier}. Refusing to grade. "
                               "Leave out --sandbox to use the best tier this machine offers.").format(
                letter=letter, name=sandbox.name, tier=sandbox.tier))
        why = (sandbox.fallback_reason or "").removeprefix("not tier A: ")
        raise UsageError(_("isolation tier {letter} required, but the best this machine offers is {tier}").format(
            letter=letter, tier=sandbox.tier) + (f" ({why})" if why else "") + ". "
            + _("Refusing to grade.") + " " + _(FIX_HINT))
    return sandbox


class DeadlineSandbox:
    """A sandbox whose runs are all killed at one deadline: a behaviour's time budget, enforced by the
    sandbox (reason "timeout") well before the session's pytest-timeout backstop would end every behaviour."""

    def __init__(self, inner: Sandbox, seconds: float) -> None:
        self._inner = inner
        self._deadline = time.monotonic() + seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def start(self, launch: Launch) -> RunView:
        remaining = max(1.0, self._deadline - time.monotonic())
        wall = remaining if launch.limits.wall_seconds is None else min(remaining, launch.limits.wall_seconds)
        return self._inner.start(replace(launch, limits=replace(launch.limits, wall_seconds=wall)))


def with_deadline(sandbox: Sandbox, seconds: float) -> Sandbox:
    return DeadlineSandbox(sandbox, seconds)
