"""Mutation operators: the mistakes students of this course make, one small function each.

An operator is a generator over a parsed module (stdlib `ast`). At each place it applies, it changes the
tree *in place*, yields a one-line description of the change, and undoes the change when resumed:

    @operator
    def close_dropped(tree):
        '''The connection is never closed (the client's socket lingers in CLOSE_WAIT).'''
        for site in statements(tree):
            if is_method_call_stmt(site.node, "close"):
                with site.replaced([]):
                    yield f"{unparse(site.node)} deleted"

The generator (generate.py) unparses the tree at every yield. The shape follows Cosmic Ray's operators (a
search for mutation positions, then one mutation per position) without its classes: an operator is just the
function, its name is the function's name, and its docstring's first line is the student mistake it models.
Operators never run the code they change.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

Operator = Callable[[ast.Module], Iterator[str]]

#: name -> operator, in the order mutants are generated (course mistakes first, then the generic ones)
OPERATORS: dict[str, Operator] = {}
#: names of the generic operators (not specific to sockets or gevent)
GENERIC: set[str] = set()


def operator(func: Operator | None = None, *, generic: bool = False) -> Any:
    def register(f: Operator) -> Operator:
        if f.__name__ in OPERATORS:
            raise ValueError(f"operator {f.__name__!r} registered twice")
        if not (f.__doc__ or "").strip():
            raise ValueError(f"operator {f.__name__!r} needs a docstring: the student mistake it models")
        OPERATORS[f.__name__] = f
        if generic:
            GENERIC.add(f.__name__)
        return f

    return register(func) if func is not None else register


def mistake(name: str) -> str:
    """The first paragraph of an operator's docstring: the student mistake it models."""
    return " ".join((OPERATORS[name].__doc__ or "").strip().split("\n\n")[0].split())


# --- finding and changing places in a tree ----------------------------------------------------------------

@dataclass
class Site:
    """A node and where it hangs: `parent.<field>` (a list when `index` is not None)."""

    parent: ast.AST
    field: str
    index: int | None
    node: ast.AST

    @contextmanager
    def replaced(self, new: ast.AST | list[ast.stmt]) -> Iterator[None]:
        """Put `new` in the node's place for the duration (a list of statements replaces one statement;
        an empty list deletes it, leaving `pass` if the block would be empty)."""
        holder = getattr(self.parent, self.field)
        if self.index is None:
            setattr(self.parent, self.field, new)
            try:
                yield
            finally:
                setattr(self.parent, self.field, self.node)
            return
        before = list(holder)
        stmts = new if isinstance(new, list) else [new]
        holder[self.index:self.index + 1] = stmts
        if not holder:
            holder.append(ast.Pass())
        try:
            yield
        finally:
            holder[:] = before


def sites(tree: ast.AST) -> list[Site]:
    """Every node below `tree` with its place, in source order (collected first: operators change the
    tree while their caller iterates)."""
    out: list[Site] = []

    def visit(parent: ast.AST) -> None:
        for field, value in ast.iter_fields(parent):
            if isinstance(value, list):
                for i, child in enumerate(value):
                    if isinstance(child, ast.AST):
                        out.append(Site(parent, field, i, child))
                        visit(child)
            elif isinstance(value, ast.AST):
                out.append(Site(parent, field, None, value))
                visit(value)

    visit(tree)
    return out


def statements(tree: ast.AST) -> list[Site]:
    return [s for s in sites(tree) if isinstance(s.node, ast.stmt) and s.index is not None]


def dotted(node: ast.AST) -> str:
    """`a.b.c` for a Name/Attribute chain, '' otherwise."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def method_call(node: ast.AST, *names: str) -> ast.Call | None:
    """The call if `node` is `<something>.<name>(...)` with one of `names`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names:
        return node
    return None


def call_stmt(node: ast.AST, *names: str) -> ast.Call | None:
    """The call if `node` is the statement `<something>.<name>(...)`."""
    return method_call(node.value, *names) if isinstance(node, ast.Expr) else None


def receiver(call: ast.Call) -> str:
    return dotted(call.func.value) if isinstance(call.func, ast.Attribute) else ""


def callee(call: ast.Call) -> ast.Attribute:
    """The `<something>.<name>` of a call that method_call() or call_stmt() found."""
    assert isinstance(call.func, ast.Attribute), "not a method call"
    return call.func


def unparse(node: ast.AST) -> str:
    text = ast.unparse(node)
    first = text.splitlines()[0] if text else text
    return first + (" ..." if "\n" in text else "")


def is_false(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value in (False, 0) and not isinstance(node.value, str)


def listeners(tree: ast.AST) -> set[str]:
    """Names bound to a new socket (`sk = socket.socket(...)`): the listening socket in these programs."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and dotted(node.value.func) in ("socket.socket", "socket", "socket.create_server"):
            out |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return out


def recv_names(tree: ast.AST) -> set[str]:
    """Names bound to what recv() returned (`data = conn.recv(1024)`)."""
    return {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) and method_call(node.value, "recv")
            for t in node.targets if isinstance(t, ast.Name)}


def top_level_imports(tree: ast.Module) -> list[int]:
    return [i for i, s in enumerate(tree.body) if isinstance(s, (ast.Import, ast.ImportFrom))]


def imports_module(tree: ast.Module, name: str) -> bool:
    return any(isinstance(s, ast.Import) and any(a.name == name and a.asname is None for a in s.names)
               for s in tree.body)


def expr(text: str) -> ast.expr:
    return ast.parse(text, mode="eval").body


def stmt(text: str) -> ast.stmt:
    return ast.parse(text).body[0]


@contextmanager
def inserted(body: list[ast.stmt], index: int, new: list[ast.stmt]) -> Iterator[None]:
    before = list(body)
    body[index:index] = new
    try:
        yield
    finally:
        body[:] = before


def _patch_all(node: ast.AST) -> ast.Call | None:
    """The call if `node` is the statement `monkey.patch_all()` (or `gevent.monkey.patch_all()`)."""
    c = call_stmt(node, "patch_all")
    return c if c is not None and dotted(c.func) in ("monkey.patch_all", "gevent.monkey.patch_all") else None


def _is_patch_all(node: ast.AST) -> bool:
    return _patch_all(node) is not None


# --- sockets ------------------------------------------------------------------------------------------------

@operator
def accepted_left_blocking(tree: ast.Module) -> Iterator[str]:
    """An accepted connection is left blocking (`conn.setblocking(False)` missing): on Linux it does not
    inherit the listener's mode, so one silent client stops the whole loop."""
    names = listeners(tree)
    for site in statements(tree):
        call = call_stmt(site.node, "setblocking")
        if call and call.args and is_false(call.args[0]) and receiver(call) not in names:
            with site.replaced([]):
                yield f"{unparse(site.node)} deleted"


@operator
def listener_left_blocking(tree: ast.Module) -> Iterator[str]:
    """The listening socket is left blocking (`sk.setblocking(False)` missing): accept() waits for the
    next client and nobody else is served meanwhile."""
    names = listeners(tree)
    for site in statements(tree):
        call = call_stmt(site.node, "setblocking")
        if call and call.args and is_false(call.args[0]) and receiver(call) in names:
            with site.replaced([]):
                yield f"{unparse(site.node)} deleted"


@operator
def close_without_parens(tree: ast.Module) -> Iterator[str]:
    """`conn.close` written without the parentheses: nothing is called, the socket stays open."""
    for site in statements(tree):
        call = call_stmt(site.node, "close")
        if call and not call.args:
            with site.replaced(ast.Expr(call.func)):
                yield f"{unparse(site.node)} -> {ast.unparse(call.func)}"


@operator
def close_dropped(tree: ast.Module) -> Iterator[str]:
    """The connection of a departed client is never closed (its socket lingers in CLOSE_WAIT)."""
    for site in statements(tree):
        if call_stmt(site.node, "close"):
            with site.replaced([]):
                yield f"{unparse(site.node)} deleted"


@operator
def closed_kept_in_list(tree: ast.Module) -> Iterator[str]:
    """A closed connection is not removed from the read list / connection list (the loop keeps using a
    dead socket)."""
    for site in statements(tree):
        if call_stmt(site.node, "remove"):
            with site.replaced([]):
                yield f"{unparse(site.node)} deleted"


CONNECTION_ERRORS = {"ConnectionError", "ConnectionResetError", "BrokenPipeError", "ConnectionAbortedError",
                     "OSError", "socket.error"}


def _catches_connection_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return False
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(dotted(t) in CONNECTION_ERRORS for t in types)


@operator
def connection_error_uncaught(tree: ast.Module) -> Iterator[str]:
    """`ConnectionError` is not caught (or caught around recv() only, not send()): a client that resets
    its connection crashes the server or the loop."""
    for site in statements(tree):
        node = site.node
        if not isinstance(node, ast.Try):
            continue
        for i, handler in enumerate(list(node.handlers)):
            if handler.type is None or not _catches_connection_error(handler):
                continue
            rest = node.handlers[:i] + node.handlers[i + 1:]
            new: ast.stmt | list[ast.stmt]
            if rest or node.finalbody:
                kept = ast.Try(body=node.body, handlers=rest, orelse=node.orelse if rest else [],
                               finalbody=node.finalbody)
                if not rest:  # try/finally: the else block runs after the body either way
                    kept.body = node.body + node.orelse
                new = kept
            else:
                new = node.body + node.orelse
            with site.replaced(new):
                yield f"except {ast.unparse(handler.type)} (line {handler.lineno}) removed"


def _empty_test(test: ast.expr, data: set[str]) -> bool | None:
    """True if `test` asks "did the client close?" (`not data`, `data == b''`, `len(data) == 0`), False if
    it asks "did data come?" (`data`, `len(data)`), None if neither."""
    def is_data(e: ast.expr) -> bool:
        return isinstance(e, ast.Name) and e.id in data or (
            isinstance(e, ast.Call) and dotted(e.func) == "len" and len(e.args) == 1 and is_data(e.args[0]))
    if is_data(test):
        return False
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and is_data(test.operand):
        return True
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and is_data(test.left):
        right = test.comparators[0]
        if isinstance(right, ast.Constant) and right.value in (b"", 0) and isinstance(test.ops[0], (ast.Eq, ast.Is)):
            return True
    return None


@operator
def closed_connection_unchecked(tree: ast.Module) -> Iterator[str]:
    """`b''` from recv() (the client closed) is not checked: the server treats it as data and keeps the
    dead connection (or spins on it)."""
    data = recv_names(tree)
    for site in sites(tree):
        if isinstance(site.node, (ast.If, ast.While)) and (asks_empty := _empty_test(site.node.test, data)) is not None:
            # "client closed?" becomes never; "data came?" becomes always
            before = ast.unparse(site.node.test)
            with Site(site.node, "test", None, site.node.test).replaced(ast.Constant(not asks_empty)):
                yield f"{before} -> {not asks_empty}"


@operator
def send_for_sendall(tree: ast.Module) -> Iterator[str]:
    """`send()` instead of `sendall()`: part of a long reply may never be sent."""
    for site in sites(tree):
        call = method_call(site.node, "sendall")
        if call:
            new = copy.copy(call)
            new.func = ast.Attribute(value=callee(call).value, attr="send", ctx=ast.Load())
            with site.replaced(new):
                yield f"{ast.unparse(call)} -> send()"


@operator
def recv_one_byte(tree: ast.Module) -> Iterator[str]:
    """`recv(1)` instead of `recv(1024)`: the server reads (and answers) a byte at a time."""
    for site in sites(tree):
        call = method_call(site.node, "recv")
        if call and call.args and isinstance(call.args[0], ast.Constant) and call.args[0].value != 1:
            old = ast.unparse(call.args[0])
            with Site(call, "args", 0, call.args[0]).replaced(ast.Constant(1)):
                yield f"{receiver(call)}.recv({old}) -> recv(1)"


@operator
def listen_backlog_one(tree: ast.Module) -> Iterator[str]:
    """`listen(1)` instead of `listen(128)`: clients arriving together wait or are refused."""
    for site in sites(tree):
        call = method_call(site.node, "listen")
        if call and call.args and isinstance(call.args[0], ast.Constant) and call.args[0].value != 1:
            old = ast.unparse(call.args[0])
            with Site(call, "args", 0, call.args[0]).replaced(ast.Constant(1)):
                yield f"{receiver(call)}.listen({old}) -> listen(1)"


def _select_calls(tree: ast.Module) -> list[Site]:
    out = []
    for site in sites(tree):
        node = site.node
        if isinstance(node, ast.Call) and (dotted(node.func) == "select.select" or (
                isinstance(node.func, ast.Attribute) and node.func.attr in ("poll", "select")
                and dotted(node.func.value) not in ("select", "") and dotted(node.func) != "select.select")):
            out.append(site)
    return out


@operator
def select_timeout_zero(tree: ast.Module) -> Iterator[str]:
    """select()/poll() given a timeout of 0: it returns at once and the loop spins (a busy loop at 100%
    CPU)."""
    for site in _select_calls(tree):
        call = site.node
        assert isinstance(call, ast.Call)  # _select_calls() finds calls only
        positional = 3 if dotted(call.func) == "select.select" else 0
        if len(call.args) < positional:
            continue
        new = copy.copy(call)
        new.args = call.args[:positional] + [ast.Constant(0)]
        new.keywords = [k for k in call.keywords if k.arg != "timeout"]
        if ast.dump(new) == ast.dump(call):
            continue
        with site.replaced(new):
            yield f"{ast.unparse(call)} -> {ast.unparse(new)}"


@operator
def busy_polling(tree: ast.Module) -> Iterator[str]:
    """No wait at all: the listener made nonblocking and accept() retried in a loop (busy polling), in a
    server meant to block in accept()/recv()."""
    if _select_calls(tree) or any(call_stmt(s.node, "setblocking") for s in statements(tree)):
        return  # already nonblocking, or waits in select: not this mistake
    names = listeners(tree)
    for listen_site in statements(tree):
        call = call_stmt(listen_site.node, "listen")
        if not call or receiver(call) not in names:
            continue
        sock = receiver(call)
        assert isinstance(listen_site.node, ast.stmt)  # statements() holds statements only
        for site in statements(tree):
            node = site.node
            if isinstance(node, ast.Assign) and (acc := method_call(node.value, "accept")) and receiver(acc) == sock \
                    and isinstance(site.parent, ast.While):
                guarded = ast.Try(body=[node], handlers=[ast.ExceptHandler(
                    type=ast.Name("BlockingIOError", ast.Load()), name=None, body=[ast.Continue()])],
                    orelse=[], finalbody=[])
                with site.replaced(guarded), Site(listen_site.parent, listen_site.field, listen_site.index,
                                                  listen_site.node).replaced(
                        [listen_site.node, stmt(f"{sock}.setblocking(False)")]):
                    yield f"{sock}.setblocking(False) after listen(); accept() retried on BlockingIOError"
                return


# --- gevent -------------------------------------------------------------------------------------------------

@operator
def patch_all_removed(tree: ast.Module) -> Iterator[str]:
    """`monkey.patch_all()` missing: socket and time stay blocking, one greenlet blocks them all."""
    for site in statements(tree):
        if _is_patch_all(site.node):
            with site.replaced([]):
                yield f"{unparse(site.node)} deleted"


@operator
def patch_all_without_parens(tree: ast.Module) -> Iterator[str]:
    """`monkey.patch_all` written without the parentheses: nothing is patched."""
    for site in statements(tree):
        call = _patch_all(site.node)
        if call is not None:
            with site.replaced(ast.Expr(call.func)):
                yield f"{unparse(site.node)} -> {ast.unparse(call.func)}"


@operator
def patch_all_after_imports(tree: ast.Module) -> Iterator[str]:
    """`monkey.patch_all()` called after `import socket` / `import time` instead of first."""
    for i, node in enumerate(tree.body):
        if not _is_patch_all(node):
            continue
        later = [j for j in top_level_imports(tree) if j > i]
        if not later:
            continue
        last = later[-1]
        after = unparse(tree.body[last])
        moved = tree.body[:i] + tree.body[i + 1:last + 1] + [node] + tree.body[last + 1:]
        with inserted(tree.body, 0, []):  # restores the whole body afterwards
            tree.body[:] = moved
            yield f"{unparse(node)} moved after {after}"


@operator
def from_time_import_sleep_first(tree: ast.Module) -> Iterator[str]:
    """`from time import sleep` above `monkey.patch_all()`: the name keeps the blocking sleep."""
    if not any(_is_patch_all(s) for s in tree.body):
        return
    calls = [s.node for s in sites(tree) if isinstance(s.node, ast.Call) and dotted(s.node.func) == "time.sleep"]
    if not calls:
        return
    with inserted(tree.body, 0, [stmt("from time import sleep")]):
        old_funcs = [call.func for call in calls]
        for call in calls:
            call.func = ast.Name("sleep", ast.Load())
        try:
            yield "from time import sleep before the patch; time.sleep() -> sleep()"
        finally:
            for call, func in zip(calls, old_funcs, strict=True):
                call.func = func


@operator
def patch_socket_only(tree: ast.Module) -> Iterator[str]:
    """`monkey.patch_socket()` instead of `patch_all()`: time.sleep (and the rest) still blocks."""
    for site in statements(tree):
        if _is_patch_all(site.node):
            new = copy.deepcopy(site.node)
            copied = _patch_all(new)
            assert copied is not None  # a copy of monkey.patch_all()
            callee(copied).attr = "patch_socket"
            with site.replaced(new):
                yield f"{unparse(site.node)} -> {unparse(new)}"


@operator
def time_sleep_for_gevent_sleep(tree: ast.Module) -> Iterator[str]:
    """`time.sleep()` instead of `gevent.sleep()` (blocks every greenlet unless time is patched)."""
    if not imports_module(tree, "time"):
        return
    for site in sites(tree):
        if isinstance(site.node, ast.Call) and dotted(site.node.func) == "gevent.sleep":
            new = copy.copy(site.node)
            new.func = expr("time.sleep")
            with site.replaced(new):
                yield "gevent.sleep() -> time.sleep()"


@operator
def gevent_sleep_for_time_sleep(tree: ast.Module) -> Iterator[str]:
    """`gevent.sleep()` instead of `time.sleep()` (the other way round)."""
    if not imports_module(tree, "gevent"):
        return
    for site in sites(tree):
        if isinstance(site.node, ast.Call) and dotted(site.node.func) == "time.sleep":
            new = copy.copy(site.node)
            new.func = expr("gevent.sleep")
            with site.replaced(new):
                yield "time.sleep() -> gevent.sleep()"


@operator
def join_dropped(tree: ast.Module) -> Iterator[str]:
    """`join()` / `gevent.joinall()` missing: the main program does not wait for its workers."""
    for site in statements(tree):
        call = call_stmt(site.node, "join", "joinall")
        if call and (callee(call).attr == "joinall" or receiver(call)):
            with site.replaced([]):
                yield f"{unparse(site.node)} deleted"


@operator
def yield_instead_of_join(tree: ast.Module) -> Iterator[str]:
    """A sleep in the main program instead of a join: the workers are let run, not waited for."""
    if not imports_module(tree, "gevent"):
        return
    for site in statements(tree):
        call = call_stmt(site.node, "join", "joinall")
        if call and (callee(call).attr == "joinall" or receiver(call)):
            with site.replaced(stmt("gevent.sleep(0)")):
                yield f"{unparse(site.node)} -> gevent.sleep(0)"


@operator
def join_timeout_too_short(tree: ast.Module) -> Iterator[str]:
    """`join(timeout=...)` shorter than the work: the main program stops waiting before the workers end."""
    for site in statements(tree):
        call = call_stmt(site.node, "join", "joinall")
        if call and (callee(call).attr == "joinall" or receiver(call)) and not call.keywords:
            new = copy.deepcopy(site.node)
            copied = call_stmt(new, "join", "joinall")
            assert copied is not None  # a copy of the join statement
            copied.keywords = [ast.keyword("timeout", ast.Constant(0.05))]
            with site.replaced(new):
                yield f"{unparse(site.node)} -> {unparse(new)}"


@operator
def print_without_flush(tree: ast.Module) -> Iterator[str]:
    """`print()` without `flush=True`: through a pipe the line stays in a buffer until the program ends."""
    for site in sites(tree):
        node = site.node
        if isinstance(node, ast.Call) and dotted(node.func) == "print" and any(
                k.arg == "flush" for k in node.keywords):
            new = copy.copy(node)
            new.keywords = [k for k in node.keywords if k.arg != "flush"]
            with site.replaced(new):
                yield f"{ast.unparse(node)} -> {ast.unparse(new)}"


def _spawn(node: ast.AST) -> ast.Call | None:
    if isinstance(node, ast.Call) and dotted(node.func) in ("gevent.spawn", "spawn") and node.args:
        return node
    return None


@operator
def spawn_inline(tree: ast.Module) -> Iterator[str]:
    """`spawn(f, x)` written as `f(x)` (or `thread.run()` for `thread.start()`): the work runs inline, one
    at a time, in the caller."""
    for site in sites(tree):
        call = _spawn(site.node)
        if call:
            with site.replaced(ast.Call(func=call.args[0], args=call.args[1:], keywords=call.keywords)):
                yield f"{ast.unparse(call)} -> {ast.unparse(call.args[0])}(...) inline"
        start = method_call(site.node, "start")
        if start and not start.args and isinstance(start.func, ast.Attribute) \
                and isinstance(start.func.value, ast.Call) \
                and dotted(start.func.value.func) in ("threading.Thread", "Thread"):
            new = copy.copy(start)
            new.func = ast.Attribute(value=start.func.value, attr="run", ctx=ast.Load())
            with site.replaced(new):
                yield "Thread(...).start() -> Thread(...).run() (runs in the caller's thread)"


@operator
def join_right_after_spawn(tree: ast.Module) -> Iterator[str]:
    """Each greenlet joined right after it is spawned: the workers run one after another."""
    for site in sites(tree):
        call = _spawn(site.node)
        if call:
            # `(_g := gevent.spawn(f, x), _g.join(), _g)[2]`: the greenlet, already finished
            joined = ast.Subscript(value=ast.Tuple(elts=[
                ast.NamedExpr(target=ast.Name("_g", ast.Store()), value=call),
                expr("_g.join()"), ast.Name("_g", ast.Load())], ctx=ast.Load()), slice=ast.Constant(2),
                ctx=ast.Load())
            with site.replaced(joined):
                yield f"{ast.unparse(call)} joined at once"


@operator
def thread_joined_at_once(tree: ast.Module) -> Iterator[str]:
    """Each thread joined right after it is started: the connections are served one after another."""
    for site in statements(tree):
        start = call_stmt(site.node, "start")
        if start and not start.args and isinstance(start.func, ast.Attribute) \
                and isinstance(start.func.value, ast.Call) \
                and dotted(start.func.value.func) in ("threading.Thread", "Thread"):
            made = ast.Assign(targets=[ast.Name("_t", ast.Store())], value=start.func.value, lineno=0)
            with site.replaced([made, stmt("_t.start()"), stmt("_t.join()")]):
                yield "Thread(...).start() followed by join()"


@operator
def thread_per_connection(tree: ast.Module) -> Iterator[str]:
    """A thread per connection (or per worker) where the assignment asks for greenlets."""
    imports = top_level_imports(tree)
    if not imports:
        return
    for site in sites(tree):
        call = _spawn(site.node)
        if not call:
            continue
        args = ast.Tuple(elts=call.args[1:], ctx=ast.Load())
        thread = ast.Call(func=expr("threading.Thread"), args=[], keywords=[
            ast.keyword("target", call.args[0]), ast.keyword("args", args), ast.keyword("daemon", ast.Constant(True))])
        # a started thread in the spawn's place: `(t := Thread(...), t.start(), t)[2]`
        started = ast.Subscript(value=ast.Tuple(elts=[
            ast.NamedExpr(target=ast.Name("_t", ast.Store()), value=thread),
            expr("_t.start()"), ast.Name("_t", ast.Load())], ctx=ast.Load()), slice=ast.Constant(2), ctx=ast.Load())
        with site.replaced(started), inserted(tree.body, imports[-1] + 1, [stmt("import threading")]):
            yield f"{ast.unparse(call)} -> a started threading.Thread"


# --- generic ------------------------------------------------------------------------------------------------

@operator(generic=True)
def negate_condition(tree: ast.Module) -> Iterator[str]:
    """A condition the wrong way round (`if data:` for `if not data:`)."""
    for site in sites(tree):
        if isinstance(site.node, (ast.If, ast.While)):
            test = site.node.test
            new = test.operand if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) else \
                ast.UnaryOp(op=ast.Not(), operand=test)
            with Site(site.node, "test", None, test).replaced(new):
                yield f"line {site.node.lineno}: {ast.unparse(test)} -> {ast.unparse(new)}"


DELETABLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return, ast.Break, ast.Continue,
             ast.Raise, ast.If, ast.For, ast.Delete)


@operator
def reply_not_upper(tree: ast.Module) -> Iterator[str]:
    """The reply is the data as received: `.upper()` forgotten."""
    for site in sites(tree):
        call = method_call(site.node, "upper")
        if call and not call.args:
            with site.replaced(callee(call).value):
                yield f"{ast.unparse(call)} -> {ast.unparse(callee(call).value)}"


@operator(generic=True)
def loop_once(tree: ast.Module) -> Iterator[str]:
    """A loop that runs once: `while` written as `if` (serves the first message or client only)."""
    for site in statements(tree):
        node = site.node
        if isinstance(node, ast.While) and not node.orelse:
            body = node.body
            uses_loop = any(isinstance(n, (ast.Break, ast.Continue)) for s in body for n in _walk_same_loop(s))
            if uses_loop:  # break/continue would need the loop: keep it, but leave after one pass
                new: ast.stmt = ast.While(test=node.test, body=body + [ast.Break()], orelse=[])
            else:
                new = ast.If(test=node.test, body=body, orelse=[])
            with site.replaced(new):
                yield f"line {node.lineno}: while {ast.unparse(node.test)}: runs once"


def _walk_same_loop(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes of `node` that belong to the enclosing loop (not to nested loops or functions)."""
    yield node
    if isinstance(node, (ast.For, ast.While, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
        return
    for child in ast.iter_child_nodes(node):
        yield from _walk_same_loop(child)


@operator(generic=True)
def delete_statement(tree: ast.Module) -> Iterator[str]:
    """A statement forgotten (every plain statement, `if` and `for` block; imports, definitions and `pass`
    are left alone)."""
    for site in statements(tree):
        node = site.node
        if isinstance(node, DELETABLE) and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            with site.replaced([]):
                yield f"line {node.lineno}: {unparse(node)} deleted"


@operator(generic=True)
def break_continue_swapped(tree: ast.Module) -> Iterator[str]:
    """`break` where `continue` was meant, or the other way round."""
    for site in statements(tree):
        if isinstance(site.node, (ast.Break, ast.Continue)):
            new = ast.Continue() if isinstance(site.node, ast.Break) else ast.Break()
            with site.replaced(new):
                yield f"line {site.node.lineno}: {unparse(site.node)} -> {unparse(new)}"


@operator(generic=True)
def statements_swapped(tree: ast.Module) -> Iterator[str]:
    """Two neighbouring statements in the wrong order (print before sleep, setblocking before accept)."""
    for site in statements(tree):
        node = site.node
        body = getattr(site.parent, site.field)
        if site.index is None or site.index + 1 >= len(body):
            continue
        nxt = body[site.index + 1]
        simple = (ast.Expr, ast.Assign, ast.AugAssign, ast.For, ast.If, ast.Try)
        if not (isinstance(node, simple) and isinstance(nxt, simple)):
            continue
        with inserted(body, 0, []):  # restores the whole block afterwards
            body[site.index], body[site.index + 1] = nxt, node
            yield f"lines {node.lineno} and {nxt.lineno} swapped: {unparse(nxt)} first"


#: calls whose numbers the named operators already cover (recv_one_byte, listen_backlog_one) or that are
#: flags (setsockopt(level, option, 1)): an off-by-one there is noise, not a student mistake
NUMBERS_LEFT_ALONE = ("recv", "listen", "setsockopt", "setblocking", "settimeout")


@operator(generic=True)
def number_off_by_one(tree: ast.Module) -> Iterator[str]:
    """A number off by one (`range(1, 5)` for five workers, port 9001)."""
    skip = {id(a) for node in ast.walk(tree) if (call := method_call(node, *NUMBERS_LEFT_ALONE)) for a in call.args}
    for site in sites(tree):
        node = site.node
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool) and id(node) not in skip \
                and not isinstance(site.parent, ast.Subscript) and node.value >= 0:
            for delta in (-1, 1):
                with site.replaced(ast.Constant(node.value + delta)):
                    yield f"line {node.lineno}: {node.value!r} -> {node.value + delta!r}"


def names(selection: str | None) -> list[str]:
    """Operator names from `--operators` (comma-separated names; 'course' = the course mistakes, 'generic'
    = the generic ones; default all). Unknown names raise ValueError naming the known ones."""
    if not selection:
        return list(OPERATORS)
    out: list[str] = []
    for raw in selection.split(","):
        name = raw.strip()
        if not name:
            continue
        if name == "course":
            out += [n for n in OPERATORS if n not in GENERIC]
        elif name == "generic":
            out += [n for n in OPERATORS if n in GENERIC]
        elif name in OPERATORS:
            out.append(name)
        else:
            raise ValueError(name)
    return list(dict.fromkeys(out))


#: the checks expected to catch each operator's mistake (the report names them for a survivor)
CATCHES: dict[str, tuple[str, ...]] = {
    "accepted_left_blocking": ("concurrent_clients", "nonblocking_sockets"),
    "listener_left_blocking": ("concurrent_clients", "nonblocking_sockets"),
    "close_without_parens": ("no_leaks",),
    "close_dropped": ("no_leaks",),
    "closed_kept_in_list": ("graceful_disconnect", "abrupt_disconnect", "no_leaks"),
    "connection_error_uncaught": ("abrupt_disconnect",),
    "closed_connection_unchecked": ("graceful_disconnect", "no_leaks", "idle_cpu"),
    "send_for_sendall": ("echo",),
    "recv_one_byte": ("echo",),
    "listen_backlog_one": ("concurrent_clients",),
    "select_timeout_zero": ("idle_cpu",),
    "busy_polling": ("idle_cpu", "concurrent_clients"),
    "patch_all_removed": ("patches_first", "concurrent_clients", "concurrent_span", "uses"),
    "patch_all_without_parens": ("patches_first", "concurrent_clients", "concurrent_span", "uses"),
    "patch_all_after_imports": ("patches_first",),
    "from_time_import_sleep_first": ("patches_first", "concurrent_span"),
    "patch_socket_only": ("concurrent_span",),
    "time_sleep_for_gevent_sleep": ("concurrent_span",),
    "gevent_sleep_for_time_sleep": ("concurrent_span",),
    "join_dropped": ("output_order",),
    "join_timeout_too_short": ("output_order",),
    "yield_instead_of_join": ("output_order",),
    "print_without_flush": ("concurrent_span",),
    "spawn_inline": ("concurrent_clients", "concurrent_span", "uses"),
    "join_right_after_spawn": ("concurrent_clients", "concurrent_span"),
    "thread_per_connection": ("uses", "single_thread"),
    "thread_joined_at_once": ("concurrent_clients",),
    "reply_not_upper": ("echo",),
}


def expected_checks(name: str) -> tuple[str, ...]:
    """The checks that should catch this operator's mutants; () for a generic operator (any could)."""
    return CATCHES.get(name, ())
