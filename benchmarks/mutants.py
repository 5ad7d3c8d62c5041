"""`grader mutants` benchmark: the time to grade every mutant of each assignment, and the CPU per mutant.

    .venv/bin/python benchmarks/mutants.py                          # all five assignments
    .venv/bin/python benchmarks/mutants.py --assignments select_server --workers 4

For each assignment, one fresh `grader mutants ASSIGNMENT` (a new output folder: no journal reuse), timed
end to end. CPU is given two ways, because neither alone is exact:
  - own:  the command and every descendant it waited for (RUSAGE_CHILDREN): a lower bound, since processes
          reaped by a sandbox's own init are not counted;
  - busy: the machine's busy CPU over the run, from /proc/stat: an upper bound, which on a shared machine
          includes everything else running.
Per mutant = divided by the runs graded (the mutants that compile, plus the original).

Prints a Markdown table and writes it with the raw numbers to benchmarks/results/mutants-<time>.json.
Target (issue 20): one assignment in a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GRADER = [str(BIN / "grader")] if (BIN / "grader").exists() else [sys.executable, "-m", "grader.cli"]
ASSIGNMENTS = ["gevent_join", "gevent_server", "nonblocking_server", "select_server", "threaded_server"]


def busy_seconds() -> float:
    """CPU-seconds the whole machine spent busy since boot (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(assignment: str, workers: int | None, out: Path) -> dict:
    cmd = [*GRADER, "mutants", assignment, "--out", str(out), "--progress", "none", "--fresh",
           "--json", str(out / "bench.json")]
    if workers:
        cmd += ["--workers", str(workers)]
    cpu0, busy0, t0 = children_cpu(), busy_seconds(), time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.monotonic() - t0
    own, busy = children_cpu() - cpu0, busy_seconds() - busy0
    data = json.loads((out / "bench.json").read_text()) if (out / "bench.json").exists() else {}
    mutants = data.get("mutants", [])
    graded = sum(1 for m in mutants if not (m["status"] == "stillborn" and m["reason"].startswith("SyntaxError"))) + 1
    return {"assignment": assignment, "exit": proc.returncode, "wall": round(wall, 1), "runs": graded,
            "mutants": len(mutants), "score": data.get("score"), "counts": data.get("counts"),
            "own_cpu": round(own, 1), "busy_cpu": round(busy, 1),
            "own_cpu_per_mutant": round(own / graded, 2), "busy_cpu_per_mutant": round(busy / graded, 2),
            "stderr_tail": proc.stderr[-500:] if proc.returncode not in (0, 1) else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assignments", default=",".join(ASSIGNMENTS), help="comma-separated (default: all five)")
    ap.add_argument("--workers", type=int, help="passed to grader mutants (default: its own)")
    ap.add_argument("--keep", type=Path, metavar="DIR", help="keep each assignment's reports in DIR/<assignment>")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="mutants-bench-") as tmp:
        for a in [x.strip() for x in args.assignments.split(",") if x.strip()]:
            row = measure(a, args.workers, (args.keep.resolve() if args.keep else Path(tmp)) / a)
            rows.append(row)
            print(f"{a}: {row['wall']} s, {row['runs']} runs, score {row['score']}", file=sys.stderr, flush=True)
    load = os.getloadavg()
    lines = [f"`grader mutants`, {os.cpu_count()} CPUs, load average at the end {load[0]:.1f} "
             f"(a shared machine: other work ran at the same time)", "",
             "| assignment | mutants | runs graded | wall (s) | CPU own (s) | CPU busy (s) "
             "| CPU/mutant own-busy (s) | score |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['assignment']} | {r['mutants']} | {r['runs']} | {r['wall']} | {r['own_cpu']} | "
                     f"{r['busy_cpu']} | {r['own_cpu_per_mutant']}-{r['busy_cpu_per_mutant']} | {r['score']}% |")
    report = "\n".join(lines)
    print(report)
    results = REPO / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (results / f"mutants-{stamp}.json").write_text(json.dumps({"rows": rows, "report": report,
                                                                 "loadavg": load}, indent=2) + "\n")
    return 0 if all(r["exit"] in (0, 1) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
