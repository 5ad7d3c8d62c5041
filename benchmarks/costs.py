"""Where a run's time and CPU go: the profile behind the batch and `grader check` figures.

    .venv/bin/python benchmarks/costs.py          # also part of benchmarks/run.py's report

Measures, on this machine and its best isolation tier:
- a grading session's fixed cost (a session grading only a static behaviour): a cold `python -m pytest`
  process (what `grader check` starts) and a session forked from the batch's warm interpreter;
- one sandbox start and stop (the unit every behaviour pays), CPU in the grader and in its children;
- a whole run of the select_server reference: wall time, CPU, and how much of the wall time its longest
  behaviour accounts for;
- the steps of `grader check` before and after the session: the CLI's imports and the sandbox probe.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _cpu() -> tuple[float, float]:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime


def _measure(fn, repeats: int, starter=None) -> dict:
    """Median wall and CPU of fn(); CPU of this process and its children, plus the warm starter's sessions
    (they are its children, not ours)."""
    walls, cpus = [], []
    for _ in range(repeats):
        s0, c0 = _cpu()
        w0 = starter.cpu_seconds if starter else 0.0
        t0 = time.monotonic()
        fn()
        walls.append(time.monotonic() - t0)
        s1, c1 = _cpu()
        cpus.append((s1 - s0) + (c1 - c0) + ((starter.cpu_seconds - w0) if starter else 0.0))
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus)}


def profile(repeats: int = 3) -> dict:
    from grader.batch.warm import WarmStarter
    from grader.sandbox import Launch, Limits, choose_sandbox
    from grader.session.runner import SessionOptions, grade
    from grader.spec import load_course, load_spec

    out: dict = {}
    t0 = time.monotonic()
    sandbox = choose_sandbox(announce=False)
    out["probe_s"] = time.monotonic() - t0
    out["tier"] = sandbox.tier
    course = load_course(REPO / "grader.yaml")
    spec = load_spec(course.assignments_path / "select_server" / "assignment.yaml")
    ref = REPO / "reference" / "select_server"
    static = tuple(b.id for b in spec.behaviours if b.check == "uses")
    opts = SessionOptions(tier=sandbox, only=static)
    out["session_cold"] = _measure(lambda: grade(spec, ref, course, opts), repeats)
    starter = WarmStarter()
    try:
        warm = SessionOptions(tier=sandbox, only=static, starter=starter)
        out["session_warm"] = _measure(lambda: grade(spec, ref, course, warm), repeats, starter)
        runs = []

        def whole() -> None:
            runs.append(grade(spec, ref, course, SessionOptions(tier=sandbox, starter=starter)))

        out["run_warm"] = _measure(whole, repeats, starter)
        out["run_longest_behaviour"] = statistics.median(max(b.duration for b in r.behaviours) for r in runs)
        out["run_behaviours"] = len(spec.behaviours)
    finally:
        starter.close()
    runs = []
    out["run_cold"] = _measure(lambda: runs.append(grade(spec, ref, course, SessionOptions(tier=sandbox))),
                               repeats)
    out["run_cold_longest_behaviour"] = statistics.median(max(b.duration for b in r.behaviours) for r in runs)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "server.py").write_text("import time\ntime.sleep(60)\n")

        def start_stop() -> None:
            run = sandbox.start(Launch(Path(tmp), "server.py", None, Limits()))
            deadline = time.monotonic() + 5
            while not run.processes() and time.monotonic() < deadline:
                time.sleep(0.002)
            run.stop()

        start_stop()
        out["sandbox_start_stop"] = _measure(start_stop, repeats * 3)
    probe = ("import time; t=time.monotonic(); import grader.cli, grader.commands.check; "
             "print(time.monotonic()-t)")
    cli = [float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                                cwd=REPO).stdout) for _ in range(repeats)]
    out["cli_imports_s"] = statistics.median(cli)
    return out


def describe(p: dict) -> list[str]:
    cold, warm = p["session_cold"], p["session_warm"]
    per_behaviour = (p["run_warm"]["cpu"] - warm["cpu"]) / max(1, p["run_behaviours"] - 1)
    return [
        f"Profile (isolation {p['tier']}, medians):",
        "",
        "| step | wall | CPU |",
        "|---|--:|--:|",
        f"| session fixed cost, cold `python -m pytest` (what `grader check` starts) | {cold['wall']:.2f} s | "
        f"{cold['cpu']:.2f} s |",
        f"| session fixed cost, forked from the batch's warm interpreter | {warm['wall']:.2f} s | "
        f"{warm['cpu']:.2f} s |",
        f"| one sandbox start + stop (every behaviour pays it) | {p['sandbox_start_stop']['wall']:.3f} s | "
        f"{p['sandbox_start_stop']['cpu']:.3f} s |",
        f"| whole select_server reference run, warm (longest behaviour {p['run_longest_behaviour']:.2f} s) | "
        f"{p['run_warm']['wall']:.2f} s | {p['run_warm']['cpu']:.2f} s |",
        f"| whole select_server reference run, cold (longest behaviour {p['run_cold_longest_behaviour']:.2f} s) | "
        f"{p['run_cold']['wall']:.2f} s | {p['run_cold']['cpu']:.2f} s |",
        f"| `grader check` before the session: CLI imports / sandbox probe | {p['cli_imports_s']:.2f} / "
        f"{p['probe_s']:.2f} s | |",
        "",
        f"A run's CPU is its session's fixed cost plus ~{per_behaviour:.2f} s per running behaviour (sandbox, "
        "interpreter, the grader's clients and observations).",
    ]


if __name__ == "__main__":
    result = profile()
    print("\n".join(describe(result)))
    print(json.dumps(result, indent=1))
