"""Checks on scripts (programs that run and exit): output is timestamped as it arrives and searched as one
stream (grader.checks.stream), since workers printing at once do not write whole lines.

Concurrency is judged from the spacing of observed events (first `start` line to last `done` line, and
whether they interleave), never from the process's wall time, which includes interpreter start-up and
imports on a busy machine.
"""

from __future__ import annotations

from grader.checks.registry import BehaviourFailed, check
from grader.checks.stream import OutputStream
from grader.harness.context import Context
from grader.i18n import _
from grader.spec.params import OrderParams, RunsParams, SpanParams
from grader.verdict import crash_of


def _run(ctx: Context, timeout: float) -> tuple[int | None, list[tuple[float, str]]]:
    ctx.start()
    code = ctx.wait_exit(timeout)
    lines = ctx.output_lines()
    for t, line in lines[:60]:
        ctx.transcript.log("stdout", f"[t={t:5.2f}] {line[:120]}")
    return code, lines


def _show(lines: list[tuple[float, str]], limit: int = 12) -> str:
    if not lines:
        return _("no output at all")
    shown = "; ".join(_("{line} at {seconds} s").format(line=repr(line), seconds=f"{t:.2f}")
                      for t, line in lines[:limit])
    return shown + ("; " + _("... ({n} lines)").format(n=len(lines)) if len(lines) > limit else "")



TRACEBACK = "Traceback (most recent call last):"


@check("runs")
def runs(ctx: Context, p: RunsParams) -> None:
    """The program runs to the end and exits with code 0 without a traceback (the lines it prints are judged
    by the behaviours that need them)."""
    code, lines = _run(ctx, p.timeout)
    if code is None:
        raise BehaviourFailed(_("the program did not finish within {seconds} s").format(seconds=f"{p.timeout:.0f}"),
                              expected=_("the program exits within {seconds} s").format(seconds=f"{p.timeout:.0f}"),
                              observed=_("still running; output so far: {output}").format(output=_show(lines)),
                              reason="timeout")
    if code != 0:
        raise BehaviourFailed(_("the program exited with code {code}").format(code=code), expected=_("exit code 0"),
                              observed=_("exit code {code}; output: {output}").format(code=code, output=_show(lines)),
                              reason="crashed")
    stderr = ctx.server.stderr.text()
    if TRACEBACK in stderr:
        crash = crash_of(stderr)
        what = f"{crash}" + (f": {crash.source}" if crash and crash.source else "") if crash else _("an exception")
        raise BehaviourFailed(_("the program raised {what}, yet exited with 0").format(what=what),
                              expected=_("no uncaught exception anywhere (a worker's included), exit code 0"),
                              observed=_("a traceback on stderr ending in {what}; exit code 0").format(what=what),
                              reason="traceback")
    stream = OutputStream(lines)
    missing = [rx for rx in p.expect_lines if stream.first(rx) is None]
    if missing:
        raise BehaviourFailed(_("{n} expected line(s) never printed").format(n=len(missing)),
                              expected=_("output matching {patterns}").format(
                                  patterns=", ".join(repr(m) for m in missing)),
                              observed=_show(lines), reason="output")



@check("output_order")
def output_order(ctx: Context, p: OrderParams) -> None:
    """Every `before` line is printed before the `after` line, and the program exits with code 0."""
    code, lines = _run(ctx, p.timeout)
    stream = OutputStream(lines)
    firsts = stream.find(p.before)
    final = stream.first(p.after)
    if code is None:
        raise BehaviourFailed(_("the program did not finish within {seconds} s").format(seconds=f"{p.timeout:.0f}"),
                              expected=_("the program waits for its workers, then exits"),
                              observed=_("still running; output so far: {output}").format(output=_show(lines)),
                              reason="timeout")
    if final is None:
        raise BehaviourFailed(_("the program never printed {after}").format(after=repr(p.after)),
                              expected=_("{n} times {before}, then {after}").format(
                                  n=p.before_count, before=repr(p.before), after=repr(p.after)),
                              observed=_show(lines), reason="output")
    done_before = [m for m in firsts if m.at < final.at]
    if len(done_before) < p.before_count:
        raise BehaviourFailed(
            _("only {done} of {n} workers finished before {final}").format(
                done=len(done_before), n=p.before_count, final=repr(final.text)),
            expected=_("all {n} outputs matching {before} before {after} (wait for every greenlet: join them "
                       "all)").format(n=p.before_count, before=repr(p.before), after=repr(p.after)),
            observed=_("{n} such output(s) in all, {done} before it; output: {output}").format(
                n=len(firsts), done=len(done_before), output=_show(lines)),
            reason="not_joined")
    if code != 0:
        raise BehaviourFailed(_("the program exited with code {code}").format(code=code), expected=_("exit code 0"),
                              observed=_("exit code {code}").format(code=code), reason="crashed")



@check("concurrent_span")
def concurrent_span(ctx: Context, p: SpanParams) -> None:
    """Workers overlap: all start before any is done, and first start to last done stays short."""
    code, lines = _run(ctx, p.timeout)
    stream = OutputStream(lines)
    starts = [m.t for m in stream.find(p.start)]
    dones = [m.t for m in stream.find(p.done)]
    if len(starts) > p.workers or len(dones) > p.workers:
        raise BehaviourFailed(
            f"more than {p.workers} workers ran",
            expected=f"exactly {p.workers} start and {p.workers} done outputs",
            observed=f"{len(starts)} start and {len(dones)} done output(s); exit code {code}; output: {_show(lines)}",
            reason="output")
    if len(starts) < p.workers or len(dones) < p.workers:
        raise BehaviourFailed(
            _("not every worker printed its start and done lines"),
            expected=_("{n} start and {n} done outputs").format(n=p.workers),
            observed=_("{starts} start and {dones} done output(s); exit code {code}; output: {output}").format(
                starts=len(starts), dones=len(dones), code=code, output=_show(lines)),
            reason="output")
    span = max(dones) - min(starts)
    ctx.log(_("first start at {first} s, last done at {last} s: span {span} s").format(
        first=f"{min(starts):.2f}", last=f"{max(dones):.2f}", span=f"{span:.2f}"))
    interleaved = max(starts) < min(dones)
    if span < p.min_span:
        raise BehaviourFailed(
            f"the workers did not sleep: {span:.2f} s from first start to last done",
            expected=f"each worker sleeps before it is done: a span of at least {p.min_span:.2f} s",
            observed=f"span {span:.2f} s (a sleep of 0, or none, only yields)",
            reason="no_sleep", evidence={"span": round(span, 3)})
    if span > p.max_span or not interleaved:
        order = _("each worker finished before the next one started") if max(starts) > min(dones) else \
            _("the workers started together")
        raise BehaviourFailed(
            _("the workers ran one after another: {span} s from first start to last done").format(span=f"{span:.2f}"),
            expected=_("all workers sleeping at the same time: span under {limit} s "
                       "(a sleep that yields to the other greenlets)").format(limit=f"{p.max_span:.2f}"),
            observed=_("span {span} s; {order}").format(span=f"{span:.2f}", order=order),
            reason="sequential", evidence={"span": round(span, 3)})
