"""Network scenarios against a running server: the grader's clients talk, the grader watches."""

from __future__ import annotations

import time

from grader.checks.registry import BehaviourFailed, check
from grader.failure import NotObservable
from grader.harness.client import Client
from grader.harness.context import Context
from grader.i18n import _
from grader.sandbox.freeze import Frozen
from grader.sandbox.observe import Snapshot
from grader.spec.params import ConcurrentParams, DisconnectParams, EchoParams, IdleCpuParams, LeakParams


def upper(data: bytes) -> bytes:
    return data.upper()



@check("echo")
def echo(ctx: Context, p: EchoParams) -> None:
    """One client sends several messages (one of each size) on one connection; each comes back upper-cased."""
    ctx.start()
    c = ctx.client("client1", p.reply_timeout)
    for size in p.sizes:
        msg = ctx.payload(size)
        c.exchange(msg, upper(msg), what=_(" (the message upper-cased)"))
    c.close()



@check("concurrent_clients")
def concurrent_clients(ctx: Context, p: ConcurrentParams) -> None:
    """Silent clients connect and say nothing; then active clients, all connected at once, take turns."""
    ctx.start()
    silent = [ctx.client(f"silent{i + 1}", p.reply_timeout) for i in range(p.silent_clients)]
    if silent:
        ctx.log(_("{n} silent client(s) connected and will never send").format(n=len(silent)))
    active = [ctx.client(f"client{i + 1}", p.reply_timeout) for i in range(p.active_clients)]
    for r in range(p.rounds):
        msgs = [ctx.payload(p.size) for _ in active]
        try:
            for c, m in zip(active, msgs, strict=True):  # everybody sends first, then everybody reads:
                c.send(m)                                # the server must serve them all at once
            for c, m in zip(active, msgs, strict=True):
                c.expect(upper(m), what=_(" (round {r} of {rounds})").format(r=r + 1, rounds=p.rounds))
        except BehaviourFailed as exc:
            if r == 0 or not _closes_after_replying(ctx, exc):
                raise
            # every client was served at once in round 1; that the server then closes a connection it answered
            # is one bug, which echo judges (a second message on one connection): charged there, once
            ctx.log(_("all {n} clients got their round-1 reply at once; then the server closed a connection it had "
                      "answered ({summary}): not judged here, echo judges that").format(n=len(active),
                                                                                      summary=exc.summary))
            return
    ctx.require_alive(_("while serving concurrent clients"))


def _closes_after_replying(ctx: Context, exc: BehaviourFailed) -> bool:
    """A failure that is the server closing (or resetting) a connection after answering on it, the server
    still running: the one-exchange bug, not a concurrency one."""
    if exc.reason == "server_closed" and exc.evidence.get("closed_after_replies"):
        return ctx.server.alive()
    return False



@check("graceful_disconnect")
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


@check("abrupt_disconnect")
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



# Connections the churn has waiting in the server's accept queue at most. A listen(5) backlog holds 6; past
# it the kernel drops the SYN and connect() waits for its retransmission (1 s, then 3 s): a correct server
# with a short backlog lost 10 s to that, and a slow one ended "could not connect". The churn never fills the
# queue, so what is judged is what the server does with departed clients, however fast it accepts them.
QUEUED_AT_ONCE = 4
SLOW_CONNECT = 0.5  # seconds: a connect() this slow waited for a retransmitted SYN (the queue was full)


def _fd_count(ctx: Context, snap: Snapshot | None = None) -> int:
    n = (snap or ctx.snapshot()).fd_count()
    if n is None:
        raise NotObservable(_("the server's open file descriptors"),
                            _("not visible to the {observer} observer").format(observer=ctx.server.observer_name))
    return n


def _threads(ctx: Context, snap: Snapshot | None = None) -> int:
    return (snap or ctx.snapshot()).threads()


def _close_wait(ctx: Context, snap: Snapshot | None = None) -> int:
    snap = snap or ctx.snapshot()
    if snap.sockets is None:
        raise NotObservable(_("the server's socket states"),
                            _("not visible to the {observer} observer").format(observer=ctx.server.observer_name))
    return len(snap.in_state("CLOSE_WAIT"))


class _Churn:
    """Connects the churn's clients no faster than the server accepts them: a connection counts as accepted
    once a reply came back on it or a snapshot shows the server holding its other end. The churn never waits
    for an accept while holding back what the server may be waiting for (a server blocked in recv() on one
    client accepts the next only once that one talks or leaves)."""

    def __init__(self, ctx: Context, deadline: float) -> None:
        self.ctx, self.deadline = ctx, deadline
        self.unaccepted: dict[int, Client] = {}  # the client's port -> client
        self.queued_at_once = QUEUED_AT_ONCE
        self.observable = True  # False where socket states are not visible: no pacing possible
        self.waited = 0.0  # seconds spent waiting for the server to accept

    def connected(self, c: Client) -> None:
        if c.sock is not None:
            self.unaccepted[c.sock.getsockname()[1]] = c

    def accepted(self, c: Client) -> None:
        if c.sock is not None:
            self.unaccepted.pop(c.sock.getsockname()[1], None)

    def is_accepted(self, c: Client) -> bool:
        return c.sock is None or c.sock.getsockname()[1] not in self.unaccepted

    def look(self) -> None:
        """One snapshot: every connection the server holds is accepted."""
        snap = self.ctx.snapshot()
        if snap.sockets is None:
            self.observable = False
            self.unaccepted.clear()
            return
        for s in snap.sockets:
            if s.state != "LISTEN":
                self.unaccepted.pop(s.remote[1], None)

    def room(self) -> bool:
        """Whether one more connection fits in the server's accept queue now (one look if in doubt)."""
        if len(self.unaccepted) < self.queued_at_once:
            return True
        self.look()
        return len(self.unaccepted) < self.queued_at_once

    def wait_accepted(self, c: Client, patience: float) -> bool:
        """Wait until the server has accepted `c`; False if the churn's deadline came first, or `patience`
        seconds passed (a server that stopped accepting is judged on what it did before)."""
        pause, t0 = 0.005, time.monotonic()
        until = min(self.deadline, t0 + patience)
        try:
            while not self.is_accepted(c):
                self.look()
                if self.is_accepted(c):
                    break
                if time.monotonic() > until:
                    return False
                time.sleep(pause)
                pause = min(0.1, pause * 2)
            return True
        finally:
            self.waited += time.monotonic() - t0


@check("no_leaks")
def no_leaks(ctx: Context, p: LeakParams) -> None:
    """After many connect/close cycles the server holds no CLOSE_WAIT sockets and its fds are back to baseline.

    The churn is paced to the server (never more connections waiting to be accepted than a listen(5) queue
    holds), and a server too slow to get through every cycle in `churn_timeout` is judged on the cycles it
    did (at least `min_cycles`): slowness is not a leak."""
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
    t0 = time.monotonic()
    churn = _Churn(ctx, t0 + p.churn_timeout)
    out_of_time = False
    while done < p.cycles and not out_of_time:
        # the churn is summarised in one transcript line, not 200 x 4
        batch: list[Client] = []
        while len(batch) < min(p.batch, p.cycles - done) and (not batch or churn.room()):
            c = ctx.client(f"churn{done + len(batch) + 1}", p.reply_timeout, connect=False, quiet=True)
            began = time.monotonic()
            try:
                c.connect()
            except BehaviourFailed:
                _could_not_connect(ctx, c, done + len(batch), time.monotonic() - t0)
            if time.monotonic() - began > SLOW_CONNECT:
                churn.queued_at_once = 1  # the queue was full sooner than a listen(5) one: one at a time
            churn.connected(c)
            batch.append(c)
        for i, c in enumerate(batch):
            kind = kinds[(done + i) % len(kinds)]
            if kind == "echo+close" and not silent_server:
                if c.poke(ctx.payload(16)):
                    churn.accepted(c)
                else:
                    # Any reply will do (content is echo's business). A server that stopped answering is
                    # still judged on what it does with departed clients: the rest only connects/closes.
                    silent_server = True
                    ctx.log(_("{client} got no reply: the remaining cycles connect and close without talking").format(
                        client=c.name))
            elif not out_of_time and not churn.wait_accepted(c, p.reply_timeout):
                out_of_time = True  # a connection left in the queue: the server gets it when it gets to it
            if kind.startswith("send+"):
                c.send(ctx.payload(16))
            c.reset() if kind.endswith("reset") else c.close()
        churn.unaccepted.clear()  # all accepted, or the churn ends here
        done += len(batch)
        if time.monotonic() > churn.deadline and done < p.cycles:
            out_of_time = True
    took = time.monotonic() - t0
    paced = (_("; {seconds} s waiting for the server to accept").format(seconds=f"{churn.waited:.1f}")
             if churn.waited >= 0.1 else "")
    ctx.log(_("{cycles} connect/close cycles done in {seconds} s ({kinds}, in turn, {batch} open at once{paced})")
            .format(cycles=done, seconds=f"{took:.1f}", kinds=", ".join(kinds), batch=p.batch, paced=paced))
    ctx.require_alive(_("during the connect/close cycles"))
    if out_of_time:
        ctx.log(_("the server is slow to accept ({done} of {cycles} cycles in {seconds} s): judged on those").format(
            done=done, cycles=p.cycles, seconds=f"{took:.1f}"))
    # A thread per past connection grows by `done`; a pool by at most the connections open at once.
    thread_limit = p.max_thread_growth
    if thread_limit is not None and done < p.cycles:
        thread_limit = max(p.batch + 1, round(thread_limit * done / p.cycles))

    def settle() -> tuple[int, int, int, bool]:
        # Looks until the server is clean or the time is up, the last look after the deadline. The looks
        # thin out (0.1 s, then up to 0.4 s apart): a leaky server's snapshot is costly (a few ms for 200
        # sockets), and a server that cleans up is still seen clean within 0.4 s of doing so.
        deadline = time.monotonic() + p.settle_timeout
        pause = 0.05
        while True:
            snap = ctx.snapshot()  # one look gives all three, at the same instant
            cw, fds, threads = _close_wait(ctx, snap), _fd_count(ctx, snap), _threads(ctx, snap)
            thread_ok = thread_limit is None or threads - base_threads <= thread_limit
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
                "baseline_threads": base_threads, "cycles": done}
    if cw:
        raise BehaviourFailed(
            _("{n} connection(s) left in CLOSE_WAIT: the server never closed sockets whose clients had left").format(
                n=cw),
            expected=_("0 sockets in CLOSE_WAIT once clients have closed (call conn.close() when recv returns b'')"),
            observed=_("{n} CLOSE_WAIT socket(s) after {cycles} cycles, {fds} open fds (baseline {baseline})").format(
                n=cw, cycles=done, fds=fds, baseline=base_fds),
            reason="leak", evidence=evidence)
    if fds > base_fds + p.fd_slack:
        raise BehaviourFailed(
            _("open file descriptors grew from {baseline} to {fds}: sockets of departed clients are never "
              "closed").format(baseline=base_fds, fds=fds),
            expected=_("at most {limit} open fds after the clients left (baseline {baseline})").format(
                limit=base_fds + p.fd_slack, baseline=base_fds),
            observed=_("{fds} open fds after {cycles} connect/close cycles").format(fds=fds, cycles=done),
            reason="leak", evidence=evidence)
    if not thread_ok:
        raise BehaviourFailed(
            _("the thread count grew from {baseline} to {threads} with the connections served").format(
                baseline=base_threads, threads=threads),
            expected=_("handler threads end when their client leaves (growth ≤ {limit})").format(limit=thread_limit),
            observed=_("{threads} threads after {cycles} connections had come and gone").format(
                threads=threads, cycles=done),
            reason="leak", evidence=evidence)
    if out_of_time and done < p.min_cycles:  # clean, but too little seen to say it does not leak
        raise BehaviourFailed(
            _("the server is too slow to be judged for leaks: {cycles} connect/close cycles in {seconds} s "
              "(nothing leaked in those)").format(cycles=done, seconds=f"{took:.1f}"),
            expected=_("at least {n} clients accepted, served and let go within {seconds} s (a server that waits "
                       "between passes should accept every waiting client each pass)").format(
                n=p.min_cycles, seconds=f"{p.churn_timeout:.0f}"),
            observed=_("{cycles} cycles in {seconds} s, {waited} s of it waiting for accept()").format(
                cycles=done, seconds=f"{took:.1f}", waited=f"{churn.waited:.1f}"),
            reason="slow", evidence=evidence)


def _could_not_connect(ctx: Context, c: Client, done: int, took: float) -> None:
    """A churn client could not connect although the churn waited for the server to accept the previous
    ones: a server out of file descriptors (it leaked them) or one too slow to accept. Says which."""
    ctx.require_alive(_("during the connect/close cycles"))
    snap = ctx.snapshot()
    cw = len(snap.in_state("CLOSE_WAIT")) if snap.sockets is not None else 0
    if cw:
        raise BehaviourFailed(
            _("{client} could not connect, with {n} connection(s) left in CLOSE_WAIT: the server never closed "
              "sockets whose clients had left").format(client=c.name, n=cw),
            expected=_("0 sockets in CLOSE_WAIT once clients have closed (call conn.close() when recv returns b'')"),
            observed=_("{n} CLOSE_WAIT socket(s) after {cycles} cycles, then connect() failed").format(
                n=cw, cycles=done),
            reason="leak", evidence={"close_wait": cw, "cycles": done})
    raise BehaviourFailed(
        _("the server is too slow to be judged for leaks: {client} could not connect after {cycles} cycles "
          "({seconds} s), and no socket was left in CLOSE_WAIT").format(client=c.name, cycles=done,
                                                                         seconds=f"{took:.1f}"),
        expected=_("the server accepts a new client within {seconds} s").format(seconds=f"{c.timeout:.1f}"),
        observed=_("connect() timed out after {cycles} connect/close cycles").format(cycles=done),
        reason="slow", evidence={"cycles": done, "seconds": round(took, 2)})



@check("idle_cpu")
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
    measured = _idle_window(ctx, p, len(clients)) if ctx.server.alive() else None
    if p.disconnect_first and not ctx.server.alive():
        # Dying when a client leaves (before or during the window) is graceful_disconnect's to judge: one bug,
        # charged once. Idleness is measured on what can still be observed, a fresh run whose clients all stay
        owner = next((b.id for b in ctx.spec.behaviours if b.check == "graceful_disconnect"), "graceful_disconnect")
        ctx.log(_("the server died after a client left ({owner} judges that): measured again on a fresh run, "
                  "without a departing client").format(owner=owner))
        ctx.start()
        clients = [ctx.client(f"silent{i + 1}", p.reply_timeout) for i in range(p.silent_clients)]
        time.sleep(0.3)
        measured = None
    ctx.require_alive(_("before the idle window"))
    used, wanted, window, percent, held = measured or _idle_window(ctx, p, len(clients))
    ctx.require_alive(_("during the idle window"))
    held_back = _(", or held back by its CPU cap {seconds} s").format(seconds=f"{held:.2f}") if held > 0.005 else ""
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


def _idle_window(ctx: Context, p: IdleCpuParams, silent: int) -> tuple[float, float, float, float, float]:
    """(CPU used, CPU wanted, window, % of a core wanted, held back by the cap) over one idle window."""
    ctx.log(_("measuring CPU use for {seconds} s with {n} silent client(s) connected").format(
        seconds=f"{p.window:.1f}", n=silent))
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
    return used, wanted, window, 100.0 * wanted / window, held
