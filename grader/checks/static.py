"""Static checks on the submission's source: `ast.parse` on the text, never an import."""

from __future__ import annotations

import ast
import fnmatch

from pydantic import Field

from grader.checks import BehaviourFailed, Params, check
from grader.context import Context


def parse(ctx: Context) -> ast.Module:
    try:
        source = ctx.source()
    except FileNotFoundError:
        raise BehaviourFailed(f"{ctx.spec.entry} is missing", expected=f"a file named {ctx.spec.entry}",
                              observed="no such file in the submission", reason="missing_entry") from None
    try:
        return ast.parse(source, filename=ctx.spec.entry)
    except SyntaxError as exc:
        raise BehaviourFailed(
            f"{ctx.spec.entry} does not parse", expected="valid Python 3 source",
            observed=f"SyntaxError at line {exc.lineno}: {exc.msg}", reason="syntax_error") from None


class Imports:
    """Who is who in a module: alias -> dotted name, plus modules imported with `*`."""

    def __init__(self, tree: ast.Module) -> None:
        self.aliases: dict[str, str] = {}
        self.star: list[str] = []
        self.modules: list[tuple[str, int]] = []  # (module, line) for every import
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.modules.append((a.name, node.lineno))
                    if a.asname:
                        self.aliases[a.asname] = a.name
                    else:
                        top = a.name.split(".")[0]
                        self.aliases[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                self.modules.append((node.module, node.lineno))
                for a in node.names:
                    if a.name == "*":
                        self.star.append(node.module)
                    else:
                        self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"

    def resolve(self, expr: ast.expr) -> list[str]:
        """Possible dotted names of an expression like `select.select` or `sel.register`."""
        parts: list[str] = []
        while isinstance(expr, ast.Attribute):
            parts.insert(0, expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name):
            return []
        head = expr.id
        names = []
        if head in self.aliases:
            names.append(".".join([self.aliases[head], *parts]))
        names += [".".join([m, head, *parts]) for m in self.star]
        if not names:
            names.append(".".join([head, *parts]))
        return names


def calls(tree: ast.Module, imports: Imports) -> list[tuple[str, int]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for name in imports.resolve(node.func):
                out.append((name, node.lineno))
    return out


def matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pat) or name.startswith(pat + ".") for pat in patterns)


class UsesParams(Params):
    any_of: list[str] = Field(default=[], description="dotted call names; one must be called (wildcards ok)")
    forbidden_imports: list[str] = Field(default=[], description="modules that must not be imported")
    forbidden_calls: list[str] = Field(default=[], description="dotted call names that must not appear")
    requirement: str = Field(default="", description="what the student must do, in words (shown on failure)")


@check("uses", UsesParams, kinds=("server", "script"), needs_run=False)
def uses(ctx: Context, p: UsesParams) -> None:
    """The source calls one of `any_of`, and imports / calls nothing forbidden (read from the AST)."""
    tree = parse(ctx)
    imports = Imports(tree)
    seen = calls(tree, imports)
    for mod, line in imports.modules:
        if matches(mod, p.forbidden_imports):
            raise BehaviourFailed(
                f"{ctx.spec.entry} imports {mod}, which this assignment forbids",
                expected=p.requirement or f"no import of {', '.join(p.forbidden_imports)}",
                observed=f"line {line}: import of {mod}", reason="structure")
    for name, line in seen:
        if matches(name, p.forbidden_calls):
            raise BehaviourFailed(
                f"{ctx.spec.entry} calls {name}, which this assignment forbids",
                expected=p.requirement or f"no call of {', '.join(p.forbidden_calls)}",
                observed=f"line {line}: {name}(...)", reason="structure")
    if p.any_of:
        hits = [(n, ln) for n, ln in seen if matches(n, p.any_of)]
        if not hits:
            raise BehaviourFailed(
                f"{ctx.spec.entry} never calls {' / '.join(p.any_of)}",
                expected=p.requirement or f"a call of one of: {', '.join(p.any_of)}",
                observed="none of them is called anywhere in the source", reason="structure")
        ctx.log(f"found {hits[0][0]}(...) at line {hits[0][1]}")
