"""Checks on scripts (programs that run and exit): output lines are timestamped as they arrive.

Concurrency is judged from the spacing of observed events (first `start` line to last `done` line, and
whether they interleave), never from the process's wall time, which includes interpreter start-up and
imports on a busy machine.
"""

from __future__ import annotations

import re

from pydantic import Field

from grader.checks import BehaviourFailed, Params, check
from grader.context import Context


def _run(ctx: Context, timeout: float) -> tuple[int | None, list[tuple[float, str]]]:
    ctx.start()
    code = ctx.wait_exit(timeout)
    lines = ctx.output_lines()
    for t, line in lines[:60]:
        ctx.transcript.log("stdout", f"[t={t:5.2f}] {line[:120]}")
    return code, lines


def _show(lines: list[tuple[float, str]], limit: int = 12) -> str:
    if not lines:
        return "no output at all"
    shown = "; ".join(f"{line!r} at {t:.2f} s" for t, line in lines[:limit])
    return shown + (f"; ... ({len(lines)} lines)" if len(lines) > limit else "")


class RunsParams(Params):
    timeout: float = Field(default=10.0, gt=0, description="seconds the program may run")
    expect_lines: list[str] = Field(default=[], description="regexes that must each match some output line")


@check("runs", RunsParams, kinds=("script",))
def runs(ctx: Context, p: RunsParams) -> None:
    """The program runs to the end, exits with code 0 and prints the expected lines."""
    code, lines = _run(ctx, p.timeout)
    if code is None:
        raise BehaviourFailed(f"the program did not finish within {p.timeout:.0f} s",
                              expected=f"the program exits within {p.timeout:.0f} s",
                              observed=f"still running; output so far: {_show(lines)}", reason="timeout")
    if code != 0:
        raise BehaviourFailed(f"the program exited with code {code}", expected="exit code 0",
                              observed=f"exit code {code}; output: {_show(lines)}", reason="crashed")
    missing = [rx for rx in p.expect_lines if not any(re.fullmatch(rx, ln.strip()) for _, ln in lines)]
    if missing:
        raise BehaviourFailed(f"{len(missing)} expected line(s) never printed",
                              expected="lines matching " + ", ".join(repr(m) for m in missing),
                              observed=_show(lines), reason="output")


class OrderParams(Params):
    before: str = Field(description="regex of the lines that must all come first (e.g. 'worker \\d+ done')")
    before_count: int = Field(ge=1, description="how many such lines")
    after: str = Field(description="regex of the line that must come after all of them (e.g. 'all done')")
    timeout: float = Field(default=10.0, gt=0, description="seconds the program may run")


@check("output_order", OrderParams, kinds=("script",))
def output_order(ctx: Context, p: OrderParams) -> None:
    """Every `before` line is printed before the `after` line, and the program exits with code 0."""
    code, lines = _run(ctx, p.timeout)
    firsts = [(t, ln) for t, ln in lines if re.fullmatch(p.before, ln.strip())]
    final = [(t, ln) for t, ln in lines if re.fullmatch(p.after, ln.strip())]
    if code is None:
        raise BehaviourFailed(f"the program did not finish within {p.timeout:.0f} s",
                              expected="the program waits for its workers, then exits",
                              observed=f"still running; output so far: {_show(lines)}", reason="timeout")
    if not final:
        raise BehaviourFailed(f"the program never printed a line matching {p.after!r}",
                              expected=f"{p.before_count} lines matching {p.before!r}, then {p.after!r}",
                              observed=_show(lines), reason="output")
    idx_final = lines.index(final[0])
    done_before = [ln for t, ln in lines[:idx_final] if re.fullmatch(p.before, ln.strip())]
    if len(done_before) < p.before_count:
        raise BehaviourFailed(
            f"only {len(done_before)} of {p.before_count} workers finished before {final[0][1]!r}",
            expected=f"all {p.before_count} lines matching {p.before!r} before {p.after!r} "
                     "(wait for every greenlet: join them all)",
            observed=f"{len(firsts)} such line(s) in all, {len(done_before)} before it; output: {_show(lines)}",
            reason="not_joined")
    if code != 0:
        raise BehaviourFailed(f"the program exited with code {code}", expected="exit code 0",
                              observed=f"exit code {code}", reason="crashed")


class SpanParams(Params):
    start: str = Field(description="regex of a worker's start line")
    done: str = Field(description="regex of a worker's done line")
    workers: int = Field(ge=2, description="how many workers must start and finish")
    max_span: float = Field(gt=0, description="seconds from first start to last done; put it midway between "
                                              "the concurrent and the sequential time")
    timeout: float = Field(default=15.0, gt=0, description="seconds the program may run")


@check("concurrent_span", SpanParams, kinds=("script",))
def concurrent_span(ctx: Context, p: SpanParams) -> None:
    """Workers overlap: all start before any is done, and first start to last done stays short."""
    code, lines = _run(ctx, p.timeout)
    starts = [t for t, ln in lines if re.fullmatch(p.start, ln.strip())]
    dones = [t for t, ln in lines if re.fullmatch(p.done, ln.strip())]
    if len(starts) < p.workers or len(dones) < p.workers:
        raise BehaviourFailed(
            "not every worker printed its start and done lines",
            expected=f"{p.workers} start and {p.workers} done lines",
            observed=f"{len(starts)} start and {len(dones)} done line(s); exit code {code}; output: {_show(lines)}",
            reason="output")
    span = max(dones) - min(starts)
    ctx.log(f"first start at {min(starts):.2f} s, last done at {max(dones):.2f} s: span {span:.2f} s")
    interleaved = max(starts) < min(dones)
    if span > p.max_span or not interleaved:
        order = "each worker finished before the next one started" if max(starts) > min(dones) else \
            "the workers started together"
        raise BehaviourFailed(
            f"the workers ran one after another: {span:.2f} s from first start to last done",
            expected=f"all workers sleeping at the same time: span under {p.max_span:.2f} s "
                     "(a sleep that yields to the other greenlets)",
            observed=f"span {span:.2f} s; {order}",
            reason="sequential", evidence={"span": round(span, 3)})
