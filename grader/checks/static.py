"""Static checks on the submission's source: `ast.parse` on the text, never an import."""

from __future__ import annotations

import ast
import time
from typing import Any

from grader.checks.registry import BehaviourFailed, check
from grader.failure import NotObservable
from grader.harness import evidence
from grader.harness.context import Context
from grader.harness.evidence import matches
from grader.i18n import _
from grader.sandbox.types import READINESS_SYSCALLS
from grader.spec.params import PatchParams, UsesParams


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





@check("uses")
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
        readiness = [(n, ln) for n, ln in hits if n.startswith(READINESS_APIS)]
        if readiness and p.judge_waiting and ctx.spec.kind == "server" and not p.greenlets_at_least:
            judge_readiness_wait(ctx, p, readiness[0])
    if p.greenlets_at_least:
        run_for_evidence(ctx, p)


READINESS_APIS = ("select.", "selectors.")  # a call of one of these is a claim to wait for readiness


def judge_readiness_wait(ctx: Context, p: UsesParams, hit: tuple[str, int]) -> None:
    """A readiness API named in the source is only a claim: with clients connected and idle, the server's
    main thread must be seen waiting in select/poll/epoll (the syscall it sits in, from /proc). A program that
    called it once at start, or polls with timeout 0 and sleeps in between, is seen sleeping or running."""
    ctx.start()
    clients = [ctx.client(f"idle{i + 1}") for i in range(p.idle_clients)]
    for c in clients:  # one exchange each (its content is echo's business), then they stay connected, silent
        c.poke(ctx.payload(16))
    time.sleep(0.2)
    ctx.require_alive(_("with idle clients connected"))
    if ctx.server.observer_name == "psutil":
        raise NotObservable(_("which system call the server waits in"),
                            _("not visible to the {observer} observer").format(observer=ctx.server.observer_name))
    seen = evidence.sample_main_thread(ctx.server, p.wait_samples_seconds)
    ctx.require_alive(_("with idle clients connected"))
    known = sum(n for k, n in seen.items() if k != "unknown")
    if not known:
        raise NotObservable(_("which system call the server waits in"),
                            _("its /proc/PID/syscall is not readable here"))
    waiting = sum(n for k, n in seen.items() if k in READINESS_SYSCALLS)
    how = evidence.describe_waits(seen)
    ctx.log(_("with {n} idle client(s) connected, its main thread was {how}").format(n=len(clients), how=how))
    if waiting * 2 >= known:
        return
    busy_judge = next((b.id for b in ctx.spec.behaviours if b.check == "idle_cpu"), None)
    sleeps = seen["nanosleep"] + seen["clock_nanosleep"]
    # never seen asleep: a spinner (on a loaded machine a poller that sleeps is still caught sleeping sometimes)
    if busy_judge and not sleeps and seen["running"] * 2 >= known:
        # Spinning (select with timeout 0 in a loop that never sleeps) is charged once, to the behaviour that
        # judges a server busy while idle; polling that sleeps in between is this behaviour's to judge
        ctx.log(_("it was mostly running on the CPU: a busy loop, which {owner} judges (not charged here)")
                .format(owner=busy_judge))
        return
    name, line = hit
    where = f"{ctx.spec.entry}:{line}"
    top = next((k for k, _n in seen.most_common() if k not in READINESS_SYSCALLS and k != "unknown"), "")
    if top in ("nanosleep", "clock_nanosleep"):
        instead = _("between polls it sleeps in {call}").format(call=top)
    elif top == "running":
        instead = _("it keeps running on the CPU (polling) instead")
    else:
        instead = _("it waits in {call}() instead").format(call=top)
    if waiting:
        summary = _("calls {name}() ({where}) but was seen waiting in it in only {k} of {n} samples; "
                    "{instead}").format(name=name, where=where, k=waiting, n=known, instead=instead)
    else:
        summary = _("called {name}() ({where}) but was never seen waiting in it; {instead}").format(
            name=name, where=where, instead=instead)
    raise BehaviourFailed(
        summary,
        expected=_("with clients connected and idle, the server waits for readiness in select/poll/epoll (a "
                   "blocking call, or one with a timeout), most of the time"),
        observed=_("with {n} idle client(s) connected, its main thread was {how} (sampled from /proc)").format(
            n=len(clients), how=how),
        reason="structure", evidence={"waits": dict(seen)})


def run_for_evidence(ctx: Context, p: UsesParams) -> None:
    """Run the program as the grader's observer watches: a source that names gevent.spawn in dead code, or
    imports a forbidden module by a computed name, is caught by what really ran. A server gets
    `greenlets_at_least` clients connected at once: the greenlets that ran must cover them, and the
    connections must be served by the listening process (not forked children)."""
    ctx.start()
    connections = 0
    serving: dict[str, Any] | None = None
    if ctx.spec.kind == "server":
        clients = [ctx.client(f"client{i + 1}") for i in range(max(2, p.greenlets_at_least))]
        connections = len(clients)
        for c in clients:  # all at once: a server that serves in greenlets runs one per connection
            c.send(ctx.payload(16))
        deadline = time.monotonic() + 3.0  # one deadline for all: a server that never replies costs 3 s, not 3 s each
        for c in clients:
            try:
                c.receive(16, max(0.05, deadline - time.monotonic()))
            except (BehaviourFailed, OSError):
                pass  # the replies are other behaviours' business; here only what ran counts
        serving = _who_serves(ctx)
    else:
        ctx.wait_exit(p.run_timeout)
    evidence.require_none_forbidden(ctx, p.forbidden_imports, sample_seconds=0)
    try:
        evidence.require_greenlets(ctx, p.greenlets_at_least, connections=connections, serving=serving)
    except BehaviourFailed as exc:
        if not serving or not serving["children"]:
            exc.observed += _why_no_greenlet_ran(ctx)
        raise


def _who_serves(ctx: Context) -> dict[str, Any] | None:
    """Which processes hold the server's connection sockets right now: {'listener': pid, 'children': {pid: n},
    'processes': n}; None where socket owners are not observable."""
    snap = ctx.snapshot()
    if snap.sockets is None or snap.main is None:
        return None
    port = ctx.address[1]
    # forked children inherit the listening socket too: the listening process is the first (the main process
    # comes first) that holds it
    holders = {s.pid for s in snap.in_state("LISTEN") if s.local[1] == port}
    listener = next((proc.pid for proc in snap.processes if proc.pid in holders), snap.main.pid)
    children: dict[int, int] = {}
    for s in snap.sockets:
        if s.state != "LISTEN" and s.local[1] == port and s.pid != listener:
            children[s.pid] = children.get(s.pid, 0) + 1
    ctx.log(_("{procs} process(es); connection sockets held by {n} process(es) other than the listening one")
            .format(procs=len(snap.processes), n=len(children)))
    return {"listener": listener, "children": children, "processes": len(snap.processes)}


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



@check("patches_first")
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
