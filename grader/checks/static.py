"""Static checks on the submission's source: `ast.parse` on the text, never an import."""

from __future__ import annotations

import ast
import fnmatch

from pydantic import Field

from grader.checks import BehaviourFailed, Params, check
from grader.context import Context
from grader.i18n import _


def parse(ctx: Context) -> ast.Module:
    try:
        source = ctx.source()
    except FileNotFoundError:
        raise BehaviourFailed(_("{entry} is missing").format(entry=ctx.spec.entry),
                              expected=_("a file named {entry}").format(entry=ctx.spec.entry),
                              observed=_("no such file in the submission"), reason="missing_entry") from None
    try:
        return ast.parse(source, filename=ctx.spec.entry)
    except SyntaxError as exc:
        raise BehaviourFailed(
            _("{entry} does not parse").format(entry=ctx.spec.entry), expected=_("valid Python 3 source"),
            observed=_("SyntaxError at line {line}: {message}").format(line=exc.lineno, message=exc.msg),
            reason="syntax_error") from None


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
    all_of: list[str] = Field(default=[], description="dotted call names that must each be called")
    forbidden_imports: list[str] = Field(default=[], description="modules that must not be imported")
    forbidden_calls: list[str] = Field(default=[], description="dotted call names that must not appear")
    requirement: str = Field(default="", description="what the student must do, in words (shown on failure)")
    greenlets_at_least: int = Field(default=0, ge=0, description=(
        "if > 0, the program is also run (a server gets that many clients at once, a script runs to its end) "
        "and at least this many greenlets must really run; forbidden imports are checked at run time too"))
    run_timeout: float = Field(default=15.0, gt=0,
                               description="seconds a script gets to finish (with greenlets_at_least)")


@check("uses", UsesParams, kinds=("server", "script"), needs_run=False)
def uses(ctx: Context, p: UsesParams) -> None:
    """The source calls one of `any_of`, and imports / calls nothing forbidden (read from the AST); with
    `greenlets_at_least`, the running program must also show it (runtime evidence beside the AST)."""
    tree = parse(ctx)
    imports = Imports(tree)
    seen = calls(tree, imports)
    for mod, line in imports.modules:
        if matches(mod, p.forbidden_imports):
            raise BehaviourFailed(
                _("{entry} imports {module}, which this assignment forbids").format(entry=ctx.spec.entry, module=mod),
                expected=p.requirement or _("no import of {modules}").format(modules=", ".join(p.forbidden_imports)),
                observed=_("line {line}: import of {module}").format(line=line, module=mod), reason="structure")
    for name, line in seen:
        if matches(name, p.forbidden_calls):
            raise BehaviourFailed(
                _("{entry} calls {name}, which this assignment forbids").format(entry=ctx.spec.entry, name=name),
                expected=p.requirement or _("no call of {calls}").format(calls=", ".join(p.forbidden_calls)),
                observed=f"line {line}: {name}(...)", reason="structure")
    for want in p.all_of:
        if not any(matches(n, [want]) for n, _ in seen):
            bare = _mentioned_not_called(tree, imports, want)
            observed = (_("line {line}: {name} is written without () — it is never called").format(
                line=bare, name=want.split(".")[-1])
                        if bare else _("{name}(...) is not called anywhere in the source").format(name=want))
            raise BehaviourFailed(_("{entry} never calls {name}()").format(entry=ctx.spec.entry, name=want),
                                  expected=p.requirement or _("a call of {name}()").format(name=want),
                                  observed=observed,
                                  reason="structure")
    if p.any_of:
        hits = [(n, ln) for n, ln in seen if matches(n, p.any_of)]
        if not hits:
            raise BehaviourFailed(
                _("{entry} never calls {names}").format(entry=ctx.spec.entry, names=" / ".join(p.any_of)),
                expected=p.requirement or _("a call of one of: {names}").format(names=", ".join(p.any_of)),
                observed=_("none of them is called anywhere in the source"), reason="structure")
        ctx.log(_("found {name}(...) at line {line}").format(name=hits[0][0], line=hits[0][1]))
    if p.greenlets_at_least:
        run_for_evidence(ctx, p)


def run_for_evidence(ctx: Context, p: UsesParams) -> None:
    """Run the program as the grader's observer watches: a source that names gevent.spawn in dead code, or
    imports a forbidden module by a computed name, is caught by what really ran."""
    from grader import evidence

    ctx.start()
    if ctx.spec.kind == "server":
        clients = [ctx.client(f"client{i + 1}") for i in range(max(2, p.greenlets_at_least))]
        for c in clients:  # all at once: a server that serves in greenlets runs one per connection
            c.send(ctx.payload(16))
        for c in clients:
            try:
                c.receive(16, 3.0)
            except (BehaviourFailed, OSError):
                pass  # the replies are other behaviours' business; here only what ran counts
    else:
        ctx.wait_exit(p.run_timeout)
    evidence.require_none_forbidden(ctx, p.forbidden_imports, matches, sample_seconds=0)
    try:
        evidence.require_greenlets(ctx, p.greenlets_at_least)
    except BehaviourFailed as exc:
        exc.observed += _why_no_greenlet_ran(ctx)
        raise


def _why_no_greenlet_ran(ctx: Context) -> str:
    """The usual cause, read from the source: the patch is missing, or written without ()."""
    tree = parse(ctx)
    imports = Imports(tree)
    patch = PatchParams().patch
    if any(n == patch for n, _ in calls(tree, imports)):
        return ""
    bare = _mentioned_not_called(tree, imports, patch)
    if bare:
        return _("; line {line}: monkey.patch_all is written without () — nothing is patched, so a plain socket's "
                 "blocking accept() never lets a greenlet run").format(line=bare)
    if any(n.startswith(("gevent.server.", "gevent.pool.")) for n, _ in calls(tree, imports)):
        return ""
    return _("; {entry} never calls {patch}(), so a plain socket's blocking accept() never lets a "
             "greenlet run").format(entry=ctx.spec.entry, patch=patch)


def _mentioned_not_called(tree: ast.Module, imports: Imports, name: str) -> int | None:
    """Line where `name` appears as a bare expression statement (e.g. `monkey.patch_all` without ())."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, (ast.Attribute, ast.Name)):
            if name in imports.resolve(node.value):
                return node.lineno
    return None


PATCHED = ["socket", "time", "threading", "select", "selectors", "ssl", "os", "subprocess", "queue"]


class PatchParams(Params):
    patch: str = Field(default="gevent.monkey.patch_all", description="the call that must come first")
    modules: list[str] = Field(default=PATCHED, description="modules whose names must not be imported "
                                                            "before the patch")


@check("patches_first", PatchParams, kinds=("server", "script"), needs_run=False)
def patches_first(ctx: Context, p: PatchParams) -> None:
    """`monkey.patch_all()` is called, before any `from <patched module> import ...`."""
    tree = parse(ctx)
    imports = Imports(tree)
    patch_line = next((ln for n, ln in sorted(calls(tree, imports), key=lambda x: x[1]) if n == p.patch), None)
    if patch_line is None:
        bare = _mentioned_not_called(tree, imports, p.patch)
        if bare:
            raise BehaviourFailed(
                _("line {line}: {name} is written without (), so nothing is patched").format(
                    line=bare, name=p.patch.split(".")[-1]),
                expected=_("{call} called, with parentheses").format(
                    call=f"{p.patch.rsplit('.', 2)[-2]}.{p.patch.split('.')[-1]}()"),
                observed=_("line {line}: the function is named but never called").format(line=bare),
                reason="structure")
        raise BehaviourFailed(_("{entry} never calls {name}()").format(entry=ctx.spec.entry, name=p.patch),
                              expected=_("{call} at the top of the program").format(call=f"{p.patch}()"),
                              observed=_("no such call"), reason="structure")
    for node in tree.body:
        if node.lineno >= patch_line:
            break
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mod = node.module.split(".")[0]
            if mod in p.modules:
                names = ", ".join(a.name for a in node.names)
                what = _("every name of it") if names == "*" else names
                raise BehaviourFailed(
                    _("line {line}: {statement} comes before the patch at line {patch_line}").format(
                        line=node.lineno, statement=f"`from {node.module} import {names}`", patch_line=patch_line),
                    expected=_("{call} before any {statement}").format(
                        call=f"{p.patch}()", statement=f"`from {mod} import ...`"),
                    observed=_("{what} from {module} was bound before patching, so it keeps the original, "
                               "blocking version (gevent cannot switch greenlets on it)").format(
                        what=what, module=node.module),
                    reason="patch_order")
