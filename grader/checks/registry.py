"""The registry of check functions: `@check(name)` binds a function to the check declared under that name in
grader/spec/params.py (its parameters and kinds). Imported by the library modules; `grader.checks` loads them."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from grader.failure import BehaviourFailed
from grader.spec.params import DECLARED, Params


@dataclass(frozen=True)
class CheckDef:
    name: str
    params: type[Params]
    kinds: tuple[str, ...]
    func: Callable[..., None]
    needs_run: bool  # False for static checks: they only read the source
    doc: str


CHECKS: dict[str, CheckDef] = {}

F = Callable[..., Any]


def check(name: str) -> Callable[[F], F]:
    """Register the function that grades the check declared as `name` in grader/spec/params.py."""

    def register(func: F) -> F:
        if name in CHECKS:
            raise ValueError(f"check {name!r} registered twice")
        declared = DECLARED.get(name)
        if declared is None:
            raise ValueError(f"check {name!r} is not declared in grader/spec/params.py")
        CHECKS[name] = CheckDef(name, declared.params, declared.kinds, func, declared.needs_run,
                                inspect.cleandoc(func.__doc__ or ""))
        return func

    return register


__all__ = ["CHECKS", "BehaviourFailed", "CheckDef", "Params", "check"]
