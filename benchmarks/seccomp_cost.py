"""What the kernel-side check of forbidden readiness calls costs a correct program (issue 18).

uses_nonblocking's run installs a seccomp filter (sandbox/standalone/site/sitecustomize.py, GRADER_FORBID_READINESS=1)
that kills the program at its first select/poll/epoll_wait/io_uring_setup system call. A correct program
pays: the install (once, at start) and a short BPF program on every system call it makes. This measures both
side by side, in the interpreter submissions run with, on one machine, in one run:

    .venv/bin/python benchmarks/seccomp_cost.py [--repeats 5] [--n 200000]

Each child runs the same loop with and without the filter: N send+recv pairs over a socketpair (the
system calls a nonblocking server makes all the time) and N getppid() (the cheapest system call, so the
filter's share is largest). The figures are medians over the repeats, alternating with/without.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STUDENT_PY = REPO / ".venv" / "student" / "bin" / "python"
SITE = REPO / "grader" / "sandbox" / "standalone" / "site"

CHILD = r"""
import json, os, socket, sys, time
t_start = time.perf_counter()
n = int(sys.argv[1])
a, b = socket.socketpair()
a.setblocking(False); b.setblocking(False)
t0 = time.perf_counter()
for _ in range(n):
    a.send(b"x"); b.recv(16)
t1 = time.perf_counter()
for _ in range(n):
    os.getppid()
t2 = time.perf_counter()
print(json.dumps({"pair_us": (t1 - t0) / n * 1e6, "getppid_us": (t2 - t1) / n * 1e6}))
"""


def once(n: int, filtered: bool) -> dict:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SITE), "GRADER_EVIDENCE": "bench"}
    if filtered:
        env["GRADER_WATCH_CALLS"] = "select.select"
        env["GRADER_FORBID_READINESS"] = "1"
    import time

    t0 = time.perf_counter()
    out = subprocess.run([str(STUDENT_PY), "-c", CHILD, str(n)], env=env, capture_output=True, check=True)  # noqa: S603
    wall = time.perf_counter() - t0
    data = json.loads(out.stdout)
    data["start_ms"] = wall * 1000  # the whole child: start, the loops, exit
    data["seccomp_on"] = b"seccomp on" in out.stderr
    return data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--n", type=int, default=200_000)
    args = ap.parse_args()
    if not STUDENT_PY.exists():
        print("run `make setup` first (.venv/student)", file=sys.stderr)
        return 2
    rows: dict[bool, list[dict]] = {False: [], True: []}
    for _ in range(args.repeats):
        for filtered in (False, True):
            rows[filtered].append(once(args.n, filtered))
    assert all(r["seccomp_on"] for r in rows[True]), "the filter was not installed"
    print(f"{os.uname().sysname} {os.uname().release}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
          f"median of {args.repeats}, n={args.n}")
    for key, label in (("pair_us", "send+recv pair (µs)"), ("getppid_us", "getppid() (µs)"),
                       ("start_ms", "whole child (ms)")):
        off = statistics.median(r[key] for r in rows[False])
        on = statistics.median(r[key] for r in rows[True])
        print(f"  {label:24} without {off:7.3f}   with {on:7.3f}   ratio {on / off:5.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
