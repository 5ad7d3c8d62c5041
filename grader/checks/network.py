"""Network scenarios against a running server: the grader's clients talk, the grader watches."""

from __future__ import annotations

import time
from typing import Literal

from pydantic import Field

from grader.checks import BehaviourFailed, Params, check
from grader.client import Client
from grader.context import Context
from grader.failure import NotObservable
from grader.i18n import _
from grader.sandbox.freeze import Frozen
from grader.sandbox.observe import Snapshot


def upper(data: bytes) -> bytes:
    return data.upper()


class EchoParams(Params):
    sizes: list[int] = Field(default=[5, 12, 100, 1024], min_length=1, description="bytes of each message")
    reply_timeout: float = Field(default=2.0, gt=0, description="seconds to wait for each reply")


@check("echo", EchoParams)
def echo(ctx: Context, p: EchoParams) -> None:
    """One client sends several messages (one of each size) on one connection; each comes back upper-cased."""
    ctx.start()
    c = ctx.client("client1", p.reply_timeout)
    for size in p.sizes:
        msg = ctx.payload(size)
        c.exchange(msg, upper(msg), what=_(" (the message upper-cased)"))
    c.close()


class ConcurrentParams(Params):
    silent_clients: int = Field(default=1, ge=0, description="clients that connect first and never send")
    active_clients: int = Field(default=20, ge=1, description="clients that exchange messages, interleaved")
    rounds: int = Field(default=3, ge=1, description="messages each active client sends")
    size: int = Field(default=64, ge=1, description="bytes per message")
    reply_timeout: float = Field(default=3.0, gt=0, description="seconds to wait for each reply")


@check("concurrent_clients", ConcurrentParams)
def concurrent_clients(ctx: Context, p: ConcurrentParams) -> None:
    """Silent clients connect and say nothing; then active clients, all connected at once, take turns."""
    ctx.start()
    silent = [ctx.client(f"silent{i + 1}", p.reply_timeout) for i in range(p.silent_clients)]
    if silent:
        ctx.log(_("{n} silent client(s) connected and will never send").format(n=len(silent)))
    active = [ctx.client(f"client{i + 1}", p.reply_timeout) for i in range(p.active_clients)]
    for r in range(p.rounds):
        msgs = [ctx.payload(p.size) for _ in active]
        for c, m in zip(active, msgs, strict=True):  # everybody sends first, then everybody reads:
            c.send(m)                                # the server must serve them all at once
        for c, m in zip(active, msgs, strict=True):
            c.expect(upper(m), what=_(" (round {r} of {rounds})").format(r=r + 1, rounds=p.rounds))
    ctx.require_alive(_("while serving concurrent clients"))


class DisconnectParams(Params):
    reply_timeout: float = Field(default=2.0, gt=0, description="seconds to wait for each reply")
    size: int = Field(default=32, ge=1, description="bytes per message")


@check("graceful_disconnect", DisconnectParams)
def graceful_disconnect(ctx: Context, p: DisconnectParams) -> None:
    """A client closes its connection (FIN); the server drops it and keeps serving the others and new ones."""
    ctx.start()
    leaver = ctx.client("leaver", p.reply_timeout)
    stayer = ctx.client("stayer", p.reply_timeout)
    m = ctx.payload(p.size)
    leaver.exchange(m, upper(m))
    leaver.close()
    time.sleep(0.2)
    ctx.require_alive(_("after a client closed its connection"))
    for _i in range(2):
        m = ctx.payload(p.size)
        stayer.exchange(m, upper(m), what=_(" (a client that stayed, after another one left)"))
    newcomer = ctx.client("newcomer", p.reply_timeout)
    m = ctx.payload(p.size)
    newcomer.exchange(m, upper(m), what=_(" (a client that connected after another one left)"))
    ctx.require_alive(_("after a client closed its connection"))


@check("abrupt_disconnect", DisconnectParams)
def abrupt_disconnect(ctx: Context, p: DisconnectParams) -> None:
    """Clients reset their connections (RST, SO_LINGER 0): one while idle, one whose request and reset reach
    the server together (the server is frozen while both are delivered, so it always finds the bytes first
    and its reply hits the reset); the server survives both and keeps serving."""
    ctx.start()
    stayer = ctx.client("stayer", p.reply_timeout)
    ctx.log(_("step: reset while idle"))
    idle = ctx.client("idle_resetter", p.reply_timeout)
    m = ctx.payload(p.size)
    idle.exchange(m, upper(m))
    idle.reset()
    time.sleep(0.2)
    ctx.require_alive(_("after a client reset its connection while idle"))
    m = ctx.payload(p.size)
    stayer.exchange(m, upper(m), what=_(" (a client that stayed, after another one reset)"))
    mid = ctx.client("midway_resetter", p.reply_timeout)
    mid.poke(ctx.payload(16))  # the server has accepted it and serves it; the reply's content is echo's business
    deliver_together(ctx, mid, ctx.payload(p.size * 64))
    time.sleep(0.2)
    ctx.require_alive(_("after a client's request and its reset arrived together (the server's reply hit the "
                        "reset: send() raises ConnectionResetError or BrokenPipeError)"))
    for name in ("stayer", "newcomer"):
        c = stayer if name == "stayer" else ctx.client("newcomer", p.reply_timeout)
        m = ctx.payload(p.size)
        c.exchange(m, upper(m), what=_(" (a client that stayed, after resets)") if name == "stayer"
                   else _(" (a new client, after resets)"))
    ctx.require_alive(_("after clients reset their connections"))


def deliver_together(ctx: Context, client: Client, data: bytes) -> None:
    """Send `data` then reset, both delivered while the server is frozen: when it runs again it finds the
    bytes (recv returns them) and then the reset (its reply fails). Without freezing, whether the reset lands
    before or after the server's reply is up to the scheduler, and the verdict flips between runs."""
    try:
        with ctx.server.frozen() as how:
            ctx.log(_("step: data then reset, delivered together (server frozen with {how})").format(how=how))
            client.send(data)
            client.reset()
        ctx.log(_("server thawed"))
    except Frozen as exc:
        ctx.log(_("step: data then reset (could not freeze the server: {error}; order left to the scheduler)").format(
            error=exc))
        if client.sock is not None:
            client.send(data)
            client.reset()


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


def _fd_count(ctx: Context, snap: Snapshot | None = None) -> int:
    n = (snap or ctx.snapshot()).fd_count()
    if n is None:
        raise NotObservable(_("the server's open file descriptors"),
                            _("not visible to the {observer} observer").format(observer=ctx.server.observer.name))
    return n


def _threads(ctx: Context, snap: Snapshot | None = None) -> int:
    return (snap or ctx.snapshot()).threads()


def _close_wait(ctx: Context, snap: Snapshot | None = None) -> int:
    snap = snap or ctx.snapshot()
    if snap.sockets is None:
        raise NotObservable(_("the server's socket states"),
                            _("not visible to the {observer} observer").format(observer=ctx.server.observer.name))
    return len(snap.in_state("CLOSE_WAIT"))


@check("no_leaks", LeakParams)
def no_leaks(ctx: Context, p: LeakParams) -> None:
    """After many connect/close cycles the server holds no CLOSE_WAIT sockets and its fds are back to baseline."""
    ctx.start()
    warm = ctx.client("warmup", p.reply_timeout)
    warm.poke(ctx.payload(16))
    warm.close()
    time.sleep(0.3)
    snap = ctx.snapshot()
    base_fds, base_threads = _fd_count(ctx, snap), _threads(ctx, snap)
    ctx.log(_("baseline: {fds} open fds, {threads} thread(s)").format(fds=base_fds, threads=base_threads))
    kinds = p.kinds
    done = 0
    silent_server = False
    while done < p.cycles:
        # the churn is summarised in one transcript line, not 200 x 4
        batch = [ctx.client(f"churn{done + i + 1}", p.reply_timeout, quiet=True)
                 for i in range(min(p.batch, p.cycles - done))]
        for i, c in enumerate(batch):
            kind = kinds[(done + i) % len(kinds)]
            if kind == "echo+close" and not silent_server and not c.poke(ctx.payload(16)):
                # Any reply will do (content is echo's business). A server that stopped answering is still
                # judged on what it does with departed clients: the rest of the churn only connects/closes.
                silent_server = True
                ctx.log(_("{client} got no reply: the remaining cycles connect and close without talking").format(
                    client=c.name))
            elif kind.startswith("send+"):
                c.send(ctx.payload(16))
            c.reset() if kind.endswith("reset") else c.close()
        done += len(batch)
    ctx.log(_("{cycles} connect/close cycles done ({kinds}, in turn, {batch} open at once)").format(
        cycles=p.cycles, kinds=", ".join(kinds), batch=p.batch))
    ctx.require_alive(_("during the connect/close cycles"))
    def settle() -> tuple[int, int, int, bool]:
        # Looks until the server is clean or the time is up, the last look after the deadline. The looks
        # thin out (0.1 s, then up to 0.4 s apart): a leaky server's snapshot is costly (a few ms for 200
        # sockets), and a server that cleans up is still seen clean within 0.4 s of doing so.
        deadline = time.monotonic() + p.settle_timeout
        pause = 0.1
        while True:
            snap = ctx.snapshot()  # one look gives all three, at the same instant
            cw, fds, threads = _close_wait(ctx, snap), _fd_count(ctx, snap), _threads(ctx, snap)
            thread_ok = p.max_thread_growth is None or threads - base_threads <= p.max_thread_growth
            clean = cw == 0 and fds <= base_fds + p.fd_slack and thread_ok
            if clean or time.monotonic() > deadline:
                return cw, fds, threads, thread_ok
            time.sleep(pause)
            pause = min(0.4, pause * 1.5)

    cw, fds, threads, thread_ok = settle()
    if cw:
        # Second chance: one more client arrives (and stays). A server that looks at its connections only
        # when something happens (a blocking accept) gets that event, so what is judged is whether it
        # closes departed clients at all, not when. The newcomer's own socket is open, not leaked.
        ctx.log(_("{n} CLOSE_WAIT socket(s) after {seconds} s; one more client connects").format(
            n=cw, seconds=f"{p.settle_timeout:.1f}"))
        ctx.client("last_client", p.reply_timeout)
        cw, fds, threads, thread_ok = settle()
    ctx.log(_("after {seconds} s: {n} CLOSE_WAIT socket(s), {fds} open fds, {threads} thread(s)").format(
        seconds=f"{p.settle_timeout:.1f}", n=cw, fds=fds, threads=threads))
    evidence = {"close_wait": cw, "fds": fds, "baseline_fds": base_fds, "threads": threads,
                "baseline_threads": base_threads}
    if cw:
        raise BehaviourFailed(
            _("{n} connection(s) left in CLOSE_WAIT: the server never closed sockets whose clients had left").format(
                n=cw),
            expected=_("0 sockets in CLOSE_WAIT once clients have closed (call conn.close() when recv returns b'')"),
            observed=_("{n} CLOSE_WAIT socket(s) after {cycles} cycles, {fds} open fds (baseline {baseline})").format(
                n=cw, cycles=p.cycles, fds=fds, baseline=base_fds),
            reason="leak", evidence=evidence)
    if fds > base_fds + p.fd_slack:
        raise BehaviourFailed(
            _("open file descriptors grew from {baseline} to {fds}: sockets of departed clients are never "
              "closed").format(baseline=base_fds, fds=fds),
            expected=_("at most {limit} open fds after the clients left (baseline {baseline})").format(
                limit=base_fds + p.fd_slack, baseline=base_fds),
            observed=_("{fds} open fds after {cycles} connect/close cycles").format(fds=fds, cycles=p.cycles),
            reason="leak", evidence=evidence)
    if not thread_ok:
        raise BehaviourFailed(
            _("the thread count grew from {baseline} to {threads} with the connections served").format(
                baseline=base_threads, threads=threads),
            expected=_("handler threads end when their client leaves (growth ≤ {limit})").format(
                limit=p.max_thread_growth),
            observed=_("{threads} threads after {cycles} connections had come and gone").format(
                threads=threads, cycles=p.cycles),
            reason="leak", evidence=evidence)


class IdleCpuParams(Params):
    silent_clients: int = Field(default=3, ge=0, description="clients connected and silent during the window")
    window: float = Field(default=1.5, gt=0, description="seconds of idleness measured")
    max_cpu_percent: float = Field(default=10.0, gt=0, description="CPU time / window, whole process tree")
    disconnect_first: bool = Field(default=True, description="one client leaves before the window")
    reply_timeout: float = Field(default=2.0, gt=0, description="seconds to wait for each reply")


@check("idle_cpu", IdleCpuParams)
def idle_cpu(ctx: Context, p: IdleCpuParams) -> None:
    """With silent clients connected (and after one client left), the server uses almost no CPU.

    Busy means runnable: on a CPU, waiting for one, or held back by the run's CPU cap (grader.yaml
    `server_cpus_once_listening`), so neither a loaded machine nor the cap lets a spinning server pass."""
    ctx.start()
    clients = [ctx.client(f"silent{i + 1}", p.reply_timeout) for i in range(p.silent_clients)]
    if p.disconnect_first:
        leaver = ctx.client("leaver", p.reply_timeout)
        leaver.poke(ctx.payload(16))  # talk, then leave; whether it answered is other behaviours' business
        leaver.close()
    time.sleep(0.3)
    ctx.require_alive(_("before the idle window"))
    ctx.log(_("measuring CPU use for {seconds} s with {n} silent client(s) connected").format(
        seconds=f"{p.window:.1f}", n=len(clients)))
    cpu0, (run0, wait0), held0, t0 = ctx.cpu_seconds(), ctx.sched_seconds(), ctx.throttled_seconds(), time.monotonic()
    time.sleep(p.window)
    cpu1, (run1, wait1), held1, t1 = ctx.cpu_seconds(), ctx.sched_seconds(), ctx.throttled_seconds(), time.monotonic()
    window = t1 - t0
    used = max(0.0, cpu1 - cpu0)
    # Wanted = on a CPU + waiting for one (or held back by the run's CPU cap): a spinning server wants ~100%
    # however busy the machine is and whatever its cap, while the CPU time it is given shrinks with both.
    # Whether the kernel counts throttled time as waiting (schedstat) differs: the larger sum is the truth.
    held = max(0.0, held1 - held0)
    wanted = max(used + held, max(0.0, run1 - run0) + max(0.0, wait1 - wait0))
    percent = 100.0 * wanted / window
    held_back = _(", or held back by its CPU cap {seconds} s").format(seconds=f"{held:.2f}") if held > 0.005 else ""
    ctx.require_alive(_("during the idle window"))
    ctx.log(_("while idle: {used} s of CPU time, runnable {wanted} s of {window} s ({percent})").format(
        used=f"{used:.3f}", wanted=f"{wanted:.3f}", window=f"{window:.2f}", percent=f"{percent:.0f}%"))
    if percent > p.max_cpu_percent:
        raise BehaviourFailed(
            _("the server burns CPU while idle: busy {percent} of a core").format(percent=f"{percent:.0f}%"),
            expected=_("at most {limit} of a core while all clients are silent (block in "
                       "select/recv, do not poll in a loop)").format(limit=f"{p.max_cpu_percent:.0f}%"),
            observed=_("runnable (on a CPU or waiting for one{held_back}) {wanted} s of {window} s "
                       "of idleness ({percent}); CPU time used: {used} s").format(
                held_back=held_back, wanted=f"{wanted:.2f}", window=f"{window:.2f}", percent=f"{percent:.0f}%",
                used=f"{used:.2f}"),
            reason="busy", evidence={"cpu_seconds": round(used, 3), "runnable_seconds": round(wanted, 3),
                                     "window": round(window, 3), "percent": round(percent, 1)})
