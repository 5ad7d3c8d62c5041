"""Verdict stability: the same batch graded under different conditions must get the same verdicts.

    .venv/bin/python benchmarks/flips.py                   # 3 conditions x 3 repetitions (long: ~30 min)
    .venv/bin/python benchmarks/flips.py --reps 1          # one of each

The batch is every program of the corpus (the reference solutions and tests/programs/*) plus the demo class
(submissions/). It is graded with `grader grade` under three conditions, `--reps` times each:
`--workers 1`, the default workers, and the default workers with both cores loaded by CPU hogs (one busy
process per core, started before and killed after the grading). Every behaviour of every run is compared
across all gradings; any behaviour whose status was not the same every time is a flip, listed with the
headline of each outcome. Measures; asserts nothing (exit 0 either way).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import REPO, corpus, grade_batch, loadavg, make_batch  # noqa: E402

HOG = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


def demo_class(root: Path) -> int:
    """Copy the demo class (submissions/<student>/<assignment>/) in as students demo-<student>."""
    n = 0
    for student in sorted((REPO / "submissions").iterdir()):
        if not student.is_dir():
            continue
        for work in sorted(p for p in student.iterdir() if p.is_dir()):
            shutil.copytree(work, root / f"demo-{student.name}" / work.name,
                            ignore=shutil.ignore_patterns("__pycache__"))
            n += 1
    return n


def hogs(n: int, seconds: float) -> list[subprocess.Popen]:
    """n busy processes, each ending by itself after `seconds` (bounded even if this script dies)."""
    return [subprocess.Popen([sys.executable, "-c", HOG.format(seconds=seconds)]) for _ in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each condition (default 3)")
    ap.add_argument("--conditions", default="workers1,default,loaded",
                    help="comma-separated subset of workers1,default,loaded")
    ap.add_argument("--hog-seconds", type=float, default=1800, help="upper bound on each CPU hog's life")
    args = ap.parse_args()
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    root = Path(tempfile.mkdtemp(prefix="grader-flips-"))
    subs = root / "subs"
    batch = make_batch(subs, len(corpus()), seed=1)
    demo = demo_class(subs)
    print(f"batch: {len(batch)} corpus programs + {demo} demo submissions; conditions {conditions} x "
          f"{args.reps}; load average before: {loadavg()}", flush=True)
    seen: dict[tuple, list[tuple[str, str, str]]] = defaultdict(list)  # (student, a, behaviour) -> outcomes
    walls = []
    try:
        for rep in range(1, args.reps + 1):
            for cond in conditions:
                out = root / f"out-{cond}-{rep}"
                running = hogs(os.cpu_count() or 2, args.hog_seconds) if cond == "loaded" else []
                try:
                    t0 = time.monotonic()
                    res = grade_batch(subs, out, 1 if cond == "workers1" else None, [])
                    walls.append((cond, rep, time.monotonic() - t0))
                finally:
                    for h in running:
                        h.kill()
                        h.wait()
                for (student, a), r in res["runs"].items():
                    for b in r["behaviours"]:
                        seen[(student, a, b["id"])].append((f"{cond}#{rep}", b["status"], b.get("summary", "")))
                so_far = sum(1 for v in seen.values() if len({st for _, st, _ in v}) > 1)
                print(f"  {cond} #{rep}: {len(res['runs'])} runs in {walls[-1][2]:.0f} s, load average "
                      f"{loadavg()}; behaviours changed so far: {so_far}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    flips = {k: v for k, v in seen.items() if len({s for _, s, _ in v}) > 1}
    gradings = len(conditions) * args.reps
    print(f"\n{len(seen)} behaviours x {gradings} gradings; load average after: {loadavg()}")
    print(f"verdict changes: {len(flips)} behaviour(s)")
    names = {b["student"]: b["program"] for b in batch}
    for (student, a, bid), outcomes in sorted(flips.items()):
        print(f"  {student} ({a}/{names.get(student, student)}) {bid}:")
        shown = set()
        for label, status, summary in outcomes:
            if (status, summary) not in shown:
                shown.add((status, summary))
                print(f"    {label}: {status} {summary[:160]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
