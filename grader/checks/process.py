"""Observations of the process tree under load: threads, child processes."""

from __future__ import annotations

import time

from pydantic import Field

from grader.checks import BehaviourFailed, Params, check
from grader.checks.network import upper
from grader.context import Context


class ThreadParams(Params):
    clients: int = Field(default=10, ge=1, description="clients connected while the tree is observed")
    max_threads: int = Field(default=1, ge=1)
    max_processes: int = Field(default=1, ge=1)
    reply_timeout: float = Field(default=2.0, gt=0)


@check("single_thread", ThreadParams)
def single_thread(ctx: Context, p: ThreadParams) -> None:
    """While serving several clients, the server is one process with one thread."""
    ctx.start()
    clients = [ctx.client(f"client{i + 1}", p.reply_timeout) for i in range(p.clients)]
    worst_threads, worst_procs = 0, 0
    for r in range(3):
        for c in clients:
            m = ctx.payload(16)
            c.exchange(m, upper(m))
        procs = ctx.server.processes()
        threads = 0
        for proc in procs:
            try:
                threads = max(threads, proc.num_threads())
            except Exception:  # noqa: BLE001 - vanished
                continue
        worst_threads, worst_procs = max(worst_threads, threads), max(worst_procs, len(procs))
        ctx.log(f"observation {r + 1}: {len(procs)} process(es), at most {threads} thread(s) in one")
        time.sleep(0.05)
    if worst_procs > p.max_processes:
        raise BehaviourFailed(
            f"the server started child processes: {worst_procs} processes observed",
            expected=f"at most {p.max_processes} process(es) (one event loop, no fork/multiprocessing)",
            observed=f"{worst_procs} processes while serving {p.clients} clients", reason="structure")
    if worst_threads > p.max_threads:
        raise BehaviourFailed(
            f"the server uses threads: {worst_threads} threads observed",
            expected=f"at most {p.max_threads} thread(s): one thread serving every client through readiness",
            observed=f"{worst_threads} threads while serving {p.clients} clients", reason="structure")
