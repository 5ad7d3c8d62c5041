"""Timing margins: what a correct program and a buggy one show for each timed threshold (docs/checks.md).

    .venv/bin/python benchmarks/margins.py            # idle machine, or whatever load it has now
    .venv/bin/python benchmarks/margins.py --load     # with both cores loaded by CPU hogs

Grades pairs of programs (a correct one, one with the bug the threshold catches) with one behaviour each and
reads the grader's own transcript line for the measured value (it is the grader's log, not the program's
output). Prints a Markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.session.runner import SessionOptions, grade  # noqa: E402
from grader.spec import load_course, load_spec  # noqa: E402

COURSE = load_course(REPO / "grader.yaml")
HOG = "import time\nend = time.monotonic() + 600\nwhile time.monotonic() < end:\n    pass\n"

# threshold, assignment, behaviour, transcript regex (one number), correct program, buggy program
CASES = [
    ("idle_cpu max_cpu_percent = 10 %", "select_server", "idle_cpu", r"runnable [\d.]+ s of [\d.]+ s \((\d+)%\)",
     "reference", "busy_select_timeout0"),
    ("concurrent_span max_span = 1.5 s", "gevent_join", "concurrent", r"span ([\d.]+) s",
     "reference", "unpatched_sleep"),
    ("startup_timeout = 5 s (listening after)", "select_server", "echo", r"listening on \S+ after ([\d.]+) s",
     "reference", None),
    ("no_leaks: 0 CLOSE_WAIT after settle_timeout = 2 s", "select_server", "no_leaks",
     r"after [\d.]+ s: (\d+) CLOSE_WAIT", "reference", "removed_not_closed"),
]


def folder(assignment: str, program: str) -> Path:
    return REPO / "reference" / assignment if program == "reference" else REPO / "tests/programs" / assignment / program


def measure(assignment: str, behaviour: str, rx: str, program: str) -> str:
    spec = load_spec(COURSE.assignments_path / assignment / "assignment.yaml")
    result = grade(spec, folder(assignment, program), COURSE, SessionOptions(only=(behaviour,)))
    b = result.behaviours[0]
    for e in b.transcript:
        m = re.search(rx, e.text)
        if m:
            return f"{m.group(1)} ({b.status})"
    return f"? ({b.status})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--load", action="store_true", help="load every core with a CPU hog while measuring")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(os.cpu_count() or 2)] if args.load else []
    try:
        print(f"load: {os.getloadavg()[0]:.1f}{' + CPU hogs on every core' if hogs else ''}\n")
        print("| threshold | correct program | buggy program |\n|---|---|---|")
        for label, a, bid, rx, good, bad in CASES:
            goods = ", ".join(measure(a, bid, rx, good) for _ in range(args.reps))
            bads = ", ".join(measure(a, bid, rx, bad) for _ in range(args.reps)) if bad else "-"
            print(f"| {label} | {goods} | {bads} |", flush=True)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
