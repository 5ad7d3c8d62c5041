"""The behaviour library: generic checks, parameterised from YAML and reused across assignments.

A check is a function `(ctx: Context, params) -> None` that raises `BehaviourFailed` when the submission
misbehaves. It is registered with `@check(name, Params, kinds=...)`; `Params` is a pydantic model, so a
spec's parameters are validated (with file:line errors) when the spec is loaded, long before anything runs.

Importing this package registers nothing: the entry points ask for the registry with `library()`, which
loads the library modules once (they import the context, the clients and the sandbox; a side effect of
importing the package would make an import cycle of every module that needs `BehaviourFailed`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from grader.failure import BehaviourFailed


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class CheckDef:
    name: str
    params: type[Params]
    kinds: tuple[str, ...]
    func: Callable
    needs_run: bool  # False for static checks: they only read the source
    doc: str


CHECKS: dict[str, CheckDef] = {}


def check(name: str, params: type[Params] = Params, *, kinds: tuple[str, ...] = ("server",),
          needs_run: bool = True) -> Callable[[Callable], Callable]:
    def register(func: Callable) -> Callable:
        if name in CHECKS:
            raise ValueError(f"check {name!r} registered twice")
        CHECKS[name] = CheckDef(name, params, kinds, func, needs_run, inspect.cleandoc(func.__doc__ or ""))
        return func

    return register


LIBRARY = ("grader.checks.network", "grader.checks.process", "grader.checks.script", "grader.checks.static")


def library() -> dict[str, CheckDef]:
    """Every registered check by name, the library modules loaded first (once)."""
    import importlib

    for module in LIBRARY:
        importlib.import_module(module)  # registers its checks the first time
    return CHECKS


__all__ = ["CHECKS", "BehaviourFailed", "CheckDef", "Params", "check", "library"]
