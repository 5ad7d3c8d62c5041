"""What each check accepts: its name, its parameters (a pydantic model), the assignment kinds it works on.

This is the spec's half of a check, declared here so that loading a spec validates every behaviour's
parameters (with file:line errors) without importing the checks themselves, and so without the sandbox
(`python -X importtime -c "import grader.spec"` lists no `grader.sandbox`). The other half, the function that
grades, lives in `grader/checks/` and registers under the same name (`@check("echo")`); a test makes sure
every declared check has exactly one implementation and the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Declared:
    name: str
    params: type[Params]
    kinds: tuple[str, ...]  # assignment kinds the check works on ("server", "script")
    needs_run: bool  # False for static checks: they only read the source


DECLARED: dict[str, Declared] = {}


def declare(name: str, params: type[Params] = Params, *, kinds: tuple[str, ...] = ("server",),
            needs_run: bool = True) -> None:
    if name in DECLARED:
        raise ValueError(f"check {name!r} declared twice")
    DECLARED[name] = Declared(name, params, kinds, needs_run)


class EchoParams(Params):
    sizes: list[int] = Field(default=[5, 12, 100, 1024], min_length=1, description="bytes of each message")
    reply_timeout: float = Field(default=2.0, gt=0, description="seconds to wait for each reply")


class ConcurrentParams(Params):
    silent_clients: int = Field(default=1, ge=0, description="clients that connect first and never send")
    active_clients: int = Field(default=20, ge=1, description="clients that exchange messages, interleaved")
    rounds: int = Field(default=3, ge=1, description="messages each active client sends")
    size: int = Field(default=64, ge=1, description="bytes per message")
    reply_timeout: float = Field(default=3.0, gt=0, description="seconds to wait for each reply")


class DisconnectParams(Params):
    reply_timeout: float = Field(default=2.0, gt=0, description="seconds to wait for each reply")
    size: int = Field(default=32, ge=1, description="bytes per message")


class LeakParams(Params):
    cycles: int = Field(default=200, ge=1, description="connect/close cycles")
    batch: int = Field(default=10, ge=1, description="connections open at once during the churn")
    settle_timeout: float = Field(default=2.0, gt=0, description="seconds the server gets to close sockets")
    fd_slack: int = Field(default=3, ge=0, description="extra fds tolerated over the baseline")
    kinds: list[Literal["echo+close", "close", "send+close", "send+reset", "reset"]] = Field(
        default=["echo+close", "close"], min_length=1,
        description="what each cycle does, in turn; send+close makes the kernel reset (unread reply), "
                    "so resets are left to abrupt_disconnect by default")
    max_thread_growth: int | None = Field(default=None, ge=0,
                                          description="if set, threads may not grow by more than this")
    reply_timeout: float = Field(default=2.0, gt=0, description="seconds to wait for each reply")
    churn_timeout: float = Field(default=8.0, gt=0,
                                 description="seconds the churn may take: a server slower than that is judged "
                                             "on the cycles it got through (at least min_cycles)")
    min_cycles: int = Field(default=12, ge=1,
                            description="cycles a slow server must get through before churn_timeout to be judged")


class IdleCpuParams(Params):
    silent_clients: int = Field(default=3, ge=0, description="clients connected and silent during the window")
    window: float = Field(default=1.5, gt=0, description="seconds of idleness measured")
    max_cpu_percent: float = Field(default=10.0, gt=0, description="CPU time / window, whole process tree")
    disconnect_first: bool = Field(default=True, description="one client leaves before the window")
    reply_timeout: float = Field(default=2.0, gt=0, description="seconds to wait for each reply")


class ThreadParams(Params):
    clients: int = Field(default=10, ge=1, description="clients connected while the tree is observed")
    max_threads: int = Field(default=1, ge=1, description="threads allowed in any one process")
    max_processes: int = Field(default=1, ge=1, description="processes allowed in the tree")
    reply_timeout: float = Field(default=2.0, gt=0, description="seconds to wait for each reply")


class NonblockingParams(Params):
    clients: int = Field(default=3, ge=1, description="silent clients connected before looking")
    settle: float = Field(default=0.5, gt=0, description="seconds the server gets to accept them")
    forbidden_imports: list[str] = Field(default=[], description="modules the server must not use")
    requirement: str = Field(default="", description="what the student must do, in words (shown on failure)")


class RunsParams(Params):
    timeout: float = Field(default=10.0, gt=0, description="seconds the program may run")
    expect_lines: list[str] = Field(default=[], description="regexes that must each occur in the output (leave "
                                                            "empty when other behaviours judge the output)")


class OrderParams(Params):
    before: str = Field(description="regex of the lines that must all come first (e.g. 'worker \\d+ done')")
    before_count: int = Field(ge=1, description="how many such lines")
    after: str = Field(description="regex of the line that must come after all of them (e.g. 'all done')")
    timeout: float = Field(default=10.0, gt=0, description="seconds the program may run")


class SpanParams(Params):
    start: str = Field(description="regex of a worker's start line")
    done: str = Field(description="regex of a worker's done line")
    workers: int = Field(ge=2, description="how many workers must start and finish (exactly: more is a wrong "
                                           "program too, e.g. range(0, 6) for workers 1-5)")
    max_span: float = Field(gt=0, description="seconds from first start to last done; put it midway between "
                                              "the concurrent and the sequential time")
    min_span: float = Field(default=0.0, ge=0, description="seconds from first start to last done must be at least "
                                                          "this: midway between no wait at all and the sleep the "
                                                          "workers are asked for (0: no minimum)")
    timeout: float = Field(default=15.0, gt=0, description="seconds the program may run")


class UsesParams(Params):
    any_of: list[str] = Field(default=[], description="dotted call names; one must be called (wildcards ok)")
    all_of: list[str] = Field(default=[], description="dotted call names that must each be called")
    forbidden_imports: list[str] = Field(default=[], description="modules that must not be imported")
    forbidden_calls: list[str] = Field(default=[], description="dotted call names that must not appear")
    requirement: str = Field(default="", description="what the student must do, in words (shown on failure)")
    greenlets_at_least: int = Field(default=0, ge=0, description=(
        "if > 0, the program is also run (a server gets that many clients at once, a script runs to its end) "
        "and at least this many greenlets must really run (a server: one per connection, and the connections "
        "held by the listening process, not forked children); forbidden imports are checked at run time too"))
    run_timeout: float = Field(default=15.0, gt=0,
                               description="seconds a script gets to finish (with greenlets_at_least)")
    judge_waiting: bool = Field(default=True, description=(
        "a server whose `any_of` names a readiness API (select, poll, epoll, selectors) is also run, and with "
        "idle clients connected its main thread must be seen waiting in select/poll/epoll (from /proc): one "
        "call at start, or timeout-0 polls between sleeps, fails. false: the source alone"))
    idle_clients: int = Field(default=3, ge=1, description="clients connected (one exchange each, then idle) "
                                                           "while the server's waits are sampled")
    wait_samples_seconds: float = Field(default=0.6, gt=0, description="seconds the main thread's waits are "
                                                                       "sampled for")


PATCHED = ["socket", "time", "threading", "select", "selectors", "ssl", "os", "subprocess", "queue"]


class PatchParams(Params):
    patch: str = Field(default="gevent.monkey.patch_all", description="the call that must come first")
    modules: list[str] = Field(default=PATCHED, description="modules whose names must not be imported "
                                                            "before the patch")


def _declare_all() -> None:
    declare("echo", EchoParams)  # checks/network.py
    declare("concurrent_clients", ConcurrentParams)  # checks/network.py
    declare("graceful_disconnect", DisconnectParams)  # checks/network.py
    declare("abrupt_disconnect", DisconnectParams)  # checks/network.py
    declare("no_leaks", LeakParams)  # checks/network.py
    declare("idle_cpu", IdleCpuParams)  # checks/network.py
    declare("single_thread", ThreadParams)  # checks/process.py
    declare("nonblocking_sockets", NonblockingParams)  # checks/process.py
    declare("runs", RunsParams, kinds=("script",))  # checks/script.py
    declare("output_order", OrderParams, kinds=("script",))  # checks/script.py
    declare("concurrent_span", SpanParams, kinds=("script",))  # checks/script.py
    declare("uses", UsesParams, kinds=("server", "script"), needs_run=False)  # checks/static.py
    declare("patches_first", PatchParams, kinds=("server", "script"), needs_run=False)  # checks/static.py


_declare_all()
