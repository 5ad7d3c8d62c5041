"""The same class graded locally and on a Dask cluster, side by side in one invocation.

    .venv/bin/python benchmarks/cluster.py [SUBMISSIONS] [--threads N] [--workers-local N] [--dask-workers N]
    .venv/bin/python benchmarks/cluster.py SUBMISSIONS --dask-workers 1 --threads 0   # one worker, Dask defaults

Starts a `dask scheduler` and two `dask worker` processes on loopback (this machine: the cluster shares
its CPU with nothing else of ours while it runs), grades SUBMISSIONS (default: the demo class,
submissions/) with the local batch and then with `--cluster`, and prints each wall time, the CPU the
grader's side used, and whether the gradebooks' verdict columns agree. Needs `pip install '.[cluster]'`.
On one machine the cluster can only lose (the same cores, plus packing and Dask's own work): the figure
says what the cluster path costs, the speed-up comes from adding machines.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GRADER = Path(sys.executable).with_name("grader")
DASK = Path(sys.executable).with_name("dask")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _grade(subs: Path, out: Path, *extra: str) -> dict:
    cpu0, t0 = _children_cpu(), time.monotonic()
    proc = subprocess.run([str(GRADER), "grade", str(subs), "--out", str(out), "--progress", "none", *extra],
                          cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.monotonic() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"grader grade {' '.join(extra)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: (r["student"], r["assignment"]))
    return {"wall": wall, "cpu": _children_cpu() - cpu0, "rows": rows, "summary": proc.stdout.strip()}


def _tree_cpu(pid: int) -> float:
    """CPU of a worker and its descendants (its warm starter, the grading sessions, their sandboxes): every
    live process's own time plus what it has waited for."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def compare(submissions: Path, threads: int = 1, workers_local: int | None = None, dask_workers: int = 2) -> dict:
    """Grade `submissions` locally, then on a loopback Dask cluster of `dask_workers` workers with `threads`
    threads each (0: Dask's default, a thread per core); each side's wall time, CPU and gradebook rows."""
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="grader-bench-cluster-") as tmp:
        address = f"tcp://127.0.0.1:{_port()}"
        try:
            log = open(Path(tmp) / "dask.log", "wb")  # noqa: SIM115 - shared by the cluster's processes
            procs.append(subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port",
                                           address.rsplit(":", 1)[1], "--dashboard-address", ":0", "--no-show"],
                                          stdout=log, stderr=log, cwd=tmp, start_new_session=True))
            nthreads = ["--nthreads", str(threads)] if threads else []
            for i in range(1, dask_workers + 1):
                procs.append(subprocess.Popen([str(DASK), "worker", address, *nthreads,
                                               "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                                               "--name", f"w{i}"],
                                              stdout=log, stderr=log, cwd=tmp, start_new_session=True))
            local_extra = ["--workers", str(workers_local)] if workers_local else []
            local = _grade(submissions, Path(tmp) / "local", *local_extra)
            cluster = _grade(submissions, Path(tmp) / "cluster", "--cluster", address)
            cluster["workers_cpu"] = sum(_tree_cpu(p.pid) for p in procs[1:])
        finally:
            for p in reversed(procs):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    return {"local": local, "cluster": cluster, "threads": threads, "submissions": str(submissions),
            "dask_workers": dask_workers}


def describe(res: dict) -> list[str]:
    local, cluster = res["local"], res["cluster"]
    same = local["rows"] == cluster["rows"]
    differ = [f"{a['student']}/{a['assignment']}: " + ", ".join(f"{k} local {a[k]} cluster {b.get(k)}"
                                                              for k in a if a[k] != b.get(k))
              for a, b in zip(local["rows"], cluster["rows"], strict=False) if a != b]
    return [f"class: {res['submissions']} ({len(local['rows'])} gradebook rows)",
            f"local   : {local['wall']:6.1f} s wall, {local['cpu']:6.1f} s CPU (grader and sandboxes)  "
            f"[{local['summary'].splitlines()[0]}]",
            f"cluster : {cluster['wall']:6.1f} s wall, {cluster['cpu']:6.1f} s CPU on the instructor's side, "
            f"{cluster['workers_cpu']:6.1f} s on the workers; {res.get('dask_workers', 2)} worker(s) x "
            f"{res['threads'] or 'default'} thread(s) on this machine  [{cluster['summary'].splitlines()[0]}]",
            f"cluster / local: {cluster['wall'] / max(local['wall'], 1e-3):.2f}x",
            f"gradebooks identical: {same}" + ("" if same else " (differ: " + "; ".join(differ) + ")")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("submissions", nargs="?", type=Path, default=REPO / "submissions")
    ap.add_argument("--threads", type=int, default=1,
                    help="--nthreads of each dask worker (0: Dask's default, a thread per core)")
    ap.add_argument("--dask-workers", type=int, default=2, help="dask workers started (default 2)")
    ap.add_argument("--workers-local", type=int, default=None, help="--workers of the local batch")
    args = ap.parse_args()
    print("\n".join(describe(compare(args.submissions, args.threads, args.workers_local, args.dask_workers))))


if __name__ == "__main__":
    main()
