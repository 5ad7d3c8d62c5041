"""The behaviour library: generic checks, parameterised from YAML and reused across assignments.

A check is a function `(ctx: Context, params) -> None` that raises `BehaviourFailed` when the submission
misbehaves. Its name, parameters (a pydantic model) and the assignment kinds it works on are declared in
`grader/spec/params.py`, so a spec's parameters are validated (with file:line errors) when the spec is loaded,
long before anything runs and without importing this package; here the function registers under that name
with `@check(name)`.

Importing this package loads the library (`network`, `process`, `script`, `static`: they import the harness
and the sandbox) and so registers every check; `library()` is the registry by name.
"""

from __future__ import annotations

from grader.checks import network, process, script, static
from grader.checks.registry import CHECKS, BehaviourFailed, CheckDef, Params, check

LIBRARY = (network, process, script, static)


def library() -> dict[str, CheckDef]:
    """Every registered check by name (the library modules registered them when this package was imported)."""
    return CHECKS


__all__ = ["CHECKS", "LIBRARY", "BehaviourFailed", "CheckDef", "Params", "check", "library"]
