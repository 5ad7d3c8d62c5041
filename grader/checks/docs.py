"""The behaviour library described from the registry itself (docs/checks.md is generated from this)."""

from __future__ import annotations

from grader.checks import library


def _type_name(ann: object) -> str:
    text = repr(ann) if not isinstance(ann, type) else ann.__name__
    return text.replace("typing.", "").replace("NoneType", "None")


# (threshold, what a correct program shows, what the bug shows, margin), measured: see MARGINS_INTRO
MARGIN_ROWS = [
    ("`idle_cpu` `max_cpu_percent: 10`", "0 %, 0 %, 0 % (select reference)",
     "97 %, 101 %, 96 % (`select(..., 0)` loop)",
     "10 points / 86 points; runnable time (on a CPU or waiting for one) does not shrink with load"),
    ("`concurrent_span` `max_span: 1.5`", "0.56, 0.50, 0.50 s (joined greenlets)",
     "2.63, 2.54, 2.57 s (unpatched `time.sleep`)", "0.94 s / 1.04 s"),
    ("`concurrent_span` `min_span: 0.25`", "0.56, 0.50, 0.50 s (joined greenlets)",
     "0.00, 0.00, 0.00 s (`time.sleep(0)`: only yields)", "0.25 s / 0.25 s"),
    ("`startup_timeout: 5` (stretched by time spent waiting for a CPU, up to 3x)",
     "listening after 0.16, 0.17, 0.15 s", "never listens", "30x"),
    ("wrong address: 0.5 s after a listen elsewhere", "listens on the right address at once",
     "listens only on another port", "the failure is the headline at once, not after 5 s"),
    ("`no_leaks` `settle_timeout: 2`, `fd_slack: 3`", "0, 0, 0 CLOSE_WAIT",
     "201, 201, 201 CLOSE_WAIT (removed, not closed)", "counts, not time"),
    ("`reply_timeout: 2` / `3`", "replies within the same 10 ms transcript tick", "a blocked server never replies",
     "> 100x"),
]
MARGINS_INTRO = """## Margins of the timed thresholds

Each threshold sits between what a correct program shows and what the bug shows, far enough from both that
a loaded machine does not move a verdict. Measured with `.venv/bin/python benchmarks/margins.py --reps 3` on
the project machine (2 cores) at load average 26 (other test suites on the same cores); three runs each.
"""
MARGINS_OUTRO = """No threshold decides the order of a reset: `abrupt_disconnect` delivers the request and the reset
while the server is frozen (cgroup `cgroup.freeze`, else SIGSTOP), so a server that guards only `recv()` fails on every
run. `single_thread` connects its clients until the first that cannot (a full listen() backlog) and observes
with those, so it does not depend on how fast a blocked server accepts.
"""


def margins_markdown() -> str:
    rows = ["| threshold | a correct program shows | the bug shows | margin |", "|---|---|---|---|"]
    rows += [f"| {' | '.join(r)} |" for r in MARGIN_ROWS]
    return "\n".join([MARGINS_INTRO, *rows, "", MARGINS_OUTRO])


def checks_markdown() -> str:
    out = ["# The behaviour library", "",
           "Generated from the code by `grader list --checks --markdown` (a test keeps it in sync).",
           "Use a check in a spec with `check: NAME` and set its parameters under `params:`.", ""]
    checks = library()
    for name in sorted(checks):
        c = checks[name]
        static = " (static: reads the source, runs nothing)" if not c.needs_run else ""
        out += [f"## `{name}`", "", f"{c.doc}", "", f"For {' and '.join(c.kinds)} assignments{static}.", ""]
        fields = c.params.model_fields
        if not fields:
            out += ["No parameters.", ""]
            continue
        out += ["| parameter | type | default | meaning |", "|---|---|---|---|"]
        for fname, f in fields.items():
            default = "required" if f.is_required() else f"`{f.get_default(call_default_factory=True)!r}`"
            ann = _type_name(f.annotation)
            desc = (f.description or "").replace("|", "\\|")
            out.append(f"| `{fname}` | `{ann}` | {default} | {desc} |")
        out.append("")
    out.append(margins_markdown())
    return "\n".join(out).rstrip() + "\n"



