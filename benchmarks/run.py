"""Batch grading benchmark: sequential vs parallel on one generated batch, side by side, in one run.

    .venv/bin/python benchmarks/run.py                  # or: make bench
    .venv/bin/python benchmarks/run.py --size 20 --check-repeats 1   # a quicker look
    .venv/bin/python benchmarks/run.py --order worst --size 53         # a class in the worst order
    .venv/bin/python benchmarks/run.py --only-assignment threaded_server --size 50   # one assignment

1. Generates a batch of mixed submissions (default 60: every reference solution and every program of
   tests/programs/*, correct and buggy, all five assignments) into a temporary folder, one student each.
2. Grades it with `grader grade --workers 1`, then with the default workers, each in a fresh output folder,
   timing the whole command (wall clock) and the CPU it and its descendants used, and reports each
   wall time against the batch's floor (max(busy CPU / cores, longest run), as `grader grade` prints it)
   and the order the runs were started in.
3. Compares the verdicts (every behaviour of every run) between the two, and with what each program's
   manifest.yaml says it must fail.
4. Per-run overhead: a run's wall time minus its behaviours' own observation windows (a run grades its
   behaviours at once, so that is its duration minus its longest behaviour's).
5. `grader check select_server reference/select_server` end to end (a fresh process, as a student runs it)
   against the longest observation window of that run.

Prints a report (Markdown) and writes it with the raw numbers to benchmarks/results/ (JSON).
Targets (issue 5): batch >= 6x faster than sequential with identical verdicts; per-run overhead <= 0.5 s;
`grader check` <= 1.5x its longest window.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GRADER = [str(BIN / "grader")] if (BIN / "grader").exists() else [sys.executable, "-m", "grader.cli"]
ASSIGNMENTS = ["gevent_join", "gevent_server", "nonblocking_server", "select_server", "threaded_server"]


# --- the batch -------------------------------------------------------------------------------------------

def corpus() -> list[tuple[str, str, Path, list[str] | None]]:
    """(assignment, program name, folder, behaviours it must fail or None if unknown)."""
    out = []
    for a in ASSIGNMENTS:
        ref = REPO / "reference" / a
        if ref.is_dir():
            out.append((a, "reference", ref, []))
        manifest = REPO / "tests" / "programs" / a / "manifest.yaml"
        expected = {}
        if manifest.is_file():
            expected = {k: v.get("fails") for k, v in (yaml.safe_load(manifest.read_text()) or {})
                        .get("programs", {}).items()}
        for d in sorted((REPO / "tests" / "programs" / a).glob("*/")):
            out.append((a, d.name, d, expected.get(d.name)))
    return out


def make_batch(root: Path, size: int, seed: int, order: str = "mixed", only: str | None = None) -> list[dict]:
    """`size` submissions, one student each, drawn so that every assignment and every program appears
    (all of them when size >= the corpus; repeats beyond that). `order`: "mixed" (students in a random
    order of assignments) or "worst" (the students' alphabetical order has the assignments in ASSIGNMENTS
    order, threaded_server, the slowest, last: what a class sorted by name over assignments handed out in
    turn looks like, and the order a batch that starts runs as found would end on a late long run).
    `only`: a single-assignment class (every program of that assignment, repeated up to `size`)."""
    items = [i for i in corpus() if only is None or i[0] == only]
    if only is not None and size >= len(items):
        rng0 = random.Random(seed)
        items = items + [rng0.choice(items) for _ in range(size - len(items))]
    rng = random.Random(seed)
    picked = list(items) if size >= len(items) else []
    if not picked:  # stratified: the references first, then round-robin over assignments
        by_a = {a: [i for i in items if i[0] == a] for a in ASSIGNMENTS}
        for v in by_a.values():
            rng.shuffle(v)
            v.sort(key=lambda i: i[1] != "reference")
        while len(picked) < size:
            for a in ASSIGNMENTS:
                if by_a[a] and len(picked) < size:
                    picked.append(by_a[a].pop(0))
    while len(picked) < size:
        picked.append(rng.choice(items))
    rng.shuffle(picked)
    if order == "worst":
        picked.sort(key=lambda i: ASSIGNMENTS.index(i[0]))  # stable: shuffled within each assignment
    batch = []
    for i, (a, name, folder, fails) in enumerate(picked, start=1):
        student = f"s{i:03d}"
        shutil.copytree(folder, root / student / a, ignore=shutil.ignore_patterns("BUG.md", "__pycache__"))
        batch.append({"student": student, "assignment": a, "program": name, "fails": fails})
    return batch


# --- measuring -----------------------------------------------------------------------------------------------

def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _usage(group: Path | None) -> float | None:
    try:
        for line in (group / "cpu.stat").read_text().splitlines():  # type: ignore[operator]
            if line.startswith("usage_usec "):
                return int(line.split()[1]) / 1e6
    except (OSError, TypeError, ValueError):
        return None
    return None


def grader_group() -> Path | None:
    """A fresh v2 group for the `grader grade` process. Its runs' groups are made under the grader's own
    (grader/sandbox/cgroup.py), so this group's usage is everything, and its `grader/` subgroup's (which keeps
    its removed children's usage) is the runs': launcher once it joined, setpriv, bwrap and the submissions.
    The difference is the grader's side: batch, sessions, clients, observation, the launcher before it
    joins. None where no such group can be made (then the split is not reported)."""
    try:
        from grader.sandbox.cgroup import detect

        runs = detect().v2
    except (ImportError, OSError):
        return None
    if runs is None:
        return None
    group = runs.parent / f"grader-bench-{os.getpid()}-{time.monotonic_ns()}"
    try:
        group.mkdir()
    except OSError:
        return None
    return group


def _remove(group: Path) -> None:
    for d in sorted((p for p in group.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            d.rmdir()
    with contextlib.suppress(OSError):
        group.rmdir()


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def psi() -> str:
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return "n/a"


def grade_batch(subs: Path, out: Path, workers: int | None, extra: list[str]) -> dict:
    cmd = [*GRADER, "--course", str(REPO / "grader.yaml"), "grade", str(subs), "--out", str(out),
           "--progress", "none", *extra]
    if workers:
        cmd += ["--workers", str(workers)]
    mine = grader_group()

    def join() -> None:  # in the child, before exec: the grader and all it starts count in `mine`
        if mine is not None:
            (mine / "cgroup.procs").write_text("0")

    cpu0, t0 = children_cpu(), time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, preexec_fn=join)  # noqa: PLW1509
    wall, cpu = time.monotonic() - t0, children_cpu() - cpu0
    in_runs = outside = None
    if mine is not None:
        everything, in_runs = _usage(mine), _usage(mine / "grader")
        if everything is not None and in_runs is not None:
            outside = everything - in_runs
            cpu = everything  # rusage misses processes the host's init reaped once their pid 1 died
        _remove(mine)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    runs = {}
    workers_used = peak = None
    for line in (out / "journal.jsonl").read_text().splitlines():
        msg = json.loads(line)
        if msg["event"] == "run":
            runs[(msg["student"], msg["assignment"])] = msg["result"]
        elif msg["event"] == "batch":
            workers_used = msg.get("workers")
    held, average, floor, floor_line = 0.0, 1.0, None, ""
    for line in proc.stdout.splitlines():
        m = re.match(r"floor ([\d.]+) s", line)
        if m:
            floor, floor_line = float(m.group(1)), line
        m = re.search(r"([\d.]+) runs at once on average \(at most (\d+) of", line)
        if m:
            average, peak = float(m.group(1)), int(m.group(2))
        m = re.search(r"starts held (\d+) s", line)
        if m:
            held = float(m.group(1))
    behaviours = sum(len(r["behaviours"]) for r in runs.values())
    return {"wall": wall, "cpu": cpu, "cpu_in_runs": in_runs, "cpu_grader": outside, "behaviours": behaviours,
            "runs": runs, "workers": workers_used, "peak": peak, "average": average,
            "held": held, "floor": floor, "floor_line": floor_line, "stdout": proc.stdout.strip()}


def verdicts(runs: dict) -> dict:
    return {(s, a, b["id"]): b["status"] for (s, a), r in runs.items() for b in r["behaviours"]}


def overheads(runs: dict) -> list[float]:
    return [r["duration"] - max((b["duration"] for b in r["behaviours"]), default=0.0) for r in runs.values()]


def check_latency(repeats: int) -> dict:
    samples = []
    for _ in range(repeats):
        cmd = [*GRADER, "--course", str(REPO / "grader.yaml"), "check", "select_server",
               str(REPO / "reference" / "select_server"), "--json"]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.monotonic() - t0
        result = json.loads(proc.stdout)
        longest = max(result["behaviours"], key=lambda b: b["duration"])
        samples.append({"wall": wall, "run_duration": result["duration"], "longest": longest["duration"],
                        "longest_id": longest["id"], "passed": all(b["status"] == "passed"
                                                                   for b in result["behaviours"])})
    spec = yaml.safe_load((REPO / "assignments" / "select_server" / "assignment.yaml").read_text())
    windows = [b.get("params", {}).get("window") for b in spec["behaviours"] if b.get("params", {}).get("window")]
    med = statistics.median(s["wall"] for s in samples)
    longest = statistics.median(s["longest"] for s in samples)
    return {"samples": samples, "wall_median": med, "longest_median": longest,
            "ratio": med / longest, "idle_window_param": max(windows) if windows else None}


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))] if xs else 0.0


# --- report ----------------------------------------------------------------------------------------------------

def report(meta: dict, batch: list[dict], seq: dict, par: dict, chk: dict, costs: dict | None) -> str:
    vs, vp = verdicts(seq["runs"]), verdicts(par["runs"])
    diff = sorted(k for k in vs if vs.get(k) != vp.get(k))
    agree = 1 - len(diff) / max(1, len(vs))
    speedup = seq["wall"] / par["wall"]
    cores = meta["cores"]
    bound = seq["wall"] / (par["cpu"] / cores) if par["cpu"] else float("nan")
    ov_s, ov_p = overheads(seq["runs"]), overheads(par["runs"])
    expect_ok = expect_total = 0
    wrong = []
    for item in batch:
        fails = item["fails"]
        if fails is None:
            continue
        for label, res in (("sequential", seq), ("parallel", par)):
            r = res["runs"].get((item["student"], item["assignment"]))
            if r is None:
                continue
            got = sorted(b["id"] for b in r["behaviours"] if b["status"] != "passed")
            expect_total += 1
            if got == sorted(fails):
                expect_ok += 1
            else:
                wrong.append(f"{label}: {item['assignment']}/{item['program']} failed {got}, manifest {sorted(fails)}")
    lines = [
        f"# Batch benchmark — {meta['when']}",
        "",
        f"Machine: {cores} cores, {meta['python']}, grader {meta['version']}, isolation {meta['tier']}; "
        f"load average before {meta['load_before']}, after {meta['load_after']}.",
        f"Batch: {len(batch)} submissions ({', '.join(f'{a}: {n}' for a, n in meta['per_assignment'].items())}), "
        f"{sum(1 for b in batch if b['fails'] == [])} correct, "
        f"{sum(1 for b in batch if b['fails'])} buggy; {len(vs)} behaviours graded per batch.",
        "",
        "| | --workers 1 | default |",
        "|---|--:|--:|",
        f"| wall time | {seq['wall']:.1f} s | {par['wall']:.1f} s |",
        f"| CPU time (grader + sessions + submissions) | {seq['cpu']:.1f} s | {par['cpu']:.1f} s |",
        *_cpu_split(seq, par),
        f"| runs at once (cap / peak / average) | 1 / 1 / {seq['average']:.1f} | {par['workers']} / {par['peak']} / "
        f"{par['average']:.1f} |",
        f"| run starts held while the CPU was oversubscribed | — | {par['held']:.0f} s |",
        f"| per-run overhead median / p90 / max | {statistics.median(ov_s):.2f} / {percentile(ov_s, .9):.2f} / "
        f"{max(ov_s):.2f} s | {statistics.median(ov_p):.2f} / {percentile(ov_p, .9):.2f} / {max(ov_p):.2f} s |",
        "",
        f"**Speed-up: {speedup:.2f}×** (target ≥ 6×). CPU bound on {cores} cores: the parallel batch needs "
        f"{par['cpu']:.0f} CPU-seconds, so it cannot take less than {par['cpu'] / cores:.1f} s: at most "
        f"{bound:.1f}× over sequential.",
        f"**Verdict agreement: {len(vs) - len(diff)}/{len(vs)} behaviours ({100 * agree:.1f}%)** between "
        "--workers 1 and the default.",
        "",
        f"Batch order: {meta.get('order', 'mixed')}. **Against the floor** (max(busy CPU-seconds of the machine "
        "from /proc/stat / cores, longest run); on a shared machine other work's CPU counts too):",
        *[f"- {label}: {res['floor_line'] or 'no floor line (nothing graded?)'}"
          for label, res in (("--workers 1", seq), ("default", par))],
        "",
    ]
    for k in diff[:20]:
        why = {label: _why(res["runs"], k) for label, res in (("sequential", seq), ("parallel", par))}
        lines.append(f"- {k[0]} {k[1]} {k[2]}: sequential {vs.get(k)}{why['sequential']}, "
                     f"parallel {vp.get(k)}{why['parallel']}")
    lines += [
        f"Matches the corpus manifests: {expect_ok}/{expect_total} runs.",
        *[f"- {w}" for w in wrong[:20]],
        "",
        f"**Per-run overhead** (run wall time minus its longest behaviour, sequential): median "
        f"{statistics.median(ov_s):.2f} s, mean {statistics.fmean(ov_s):.2f} s (target ≤ 0.5 s).",
        "",
        f"**`grader check select_server reference/select_server`**: {chk['wall_median']:.2f} s end to end "
        f"(median of {len(chk['samples'])}); its longest behaviour ({chk['samples'][0]['longest_id']}) took "
        f"{chk['longest_median']:.2f} s → **{chk['ratio']:.2f}×** (target ≤ 1.5×); the spec's idle window "
        f"is {chk['idle_window_param']} s.",
    ]
    if costs:
        import costs as costs_mod

        lines += ["", *costs_mod.describe(costs)]
    return "\n".join(lines) + "\n"


def _cpu_split(seq: dict, par: dict) -> list[str]:
    """CPU inside the runs' cgroups (launcher after it joined, bwrap, the submissions) and outside them (the
    grader: batch, sessions, clients, observation), the latter per behaviour."""
    if seq.get("cpu_grader") is None or par.get("cpu_grader") is None:
        return []

    def per(res: dict) -> str:
        return f"{res['cpu_grader']:.1f} s = {1000 * res['cpu_grader'] / max(1, res['behaviours']):.0f} ms"

    return [f"| CPU time in the runs' cgroups (launcher, bwrap, submissions) | {seq['cpu_in_runs']:.1f} s | "
            f"{par['cpu_in_runs']:.1f} s |",
            f"| CPU time of the grader's side, in all = per behaviour | {per(seq)} | {per(par)} |"]


def _why(runs: dict, key: tuple) -> str:
    r = runs.get((key[0], key[1]))
    for b in (r or {}).get("behaviours", []):
        if b["id"] == key[2] and b["status"] != "passed":
            return f" ({b['reason'] or 'failed'}: {b['summary'][:80]})"
    return ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=60, help="submissions in the batch (default 60)")
    ap.add_argument("--seed", type=int, default=5, help="which programs are drawn, and in what order")
    ap.add_argument("--check-repeats", type=int, default=3)
    ap.add_argument("--order", choices=["mixed", "worst"], default="mixed",
                    help="the students' order: mixed, or worst (alphabetical with the slowest assignment last)")
    ap.add_argument("--only-assignment", metavar="NAME", default=None,
                    help="a single-assignment class: every program of NAME, repeated up to --size "
                         "(e.g. --only-assignment threaded_server --size 50)")
    ap.add_argument("--keep", action="store_true", help="keep the generated batch and outputs")
    ap.add_argument("--grade-args", default="", help="extra arguments for both `grader grade` runs")
    ap.add_argument("--parallel-first", action="store_true", help="grade with the default workers first")
    ap.add_argument("--no-profile", action="store_true", help="skip the cost profile (benchmarks/costs.py)")
    ap.add_argument("--cluster", action="store_true",
                    help="also grade the same batch on a two-worker loopback Dask cluster (benchmarks/cluster.py; "
                         "needs the cluster extra)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    try:
        batch = make_batch(tmp / "submissions", args.size, args.seed, args.order, args.only_assignment)
        extra = args.grade_args.split()
        meta = {"when": dt.datetime.now().isoformat(timespec="seconds"), "cores": len(os.sched_getaffinity(0)),
                "python": f"Python {platform.python_version()}", "load_before": loadavg(), "psi_before": psi(),
                "order": args.order + (f", only {args.only_assignment}" if args.only_assignment else ""),
                "per_assignment": {a: sum(1 for b in batch if b["assignment"] == a) for a in ASSIGNMENTS}}
        order = [("par", None), ("seq", 1)] if args.parallel_first else [("seq", 1), ("par", None)]
        res = {}
        for label, workers in order:
            print(f"grading {len(batch)} submissions with --workers {workers or 'default'} ...", file=sys.stderr,
                  flush=True)
            res[label] = grade_batch(tmp / "submissions", tmp / f"out-{label}", workers, extra)
            print(f"  {res[label]['wall']:.1f} s", file=sys.stderr, flush=True)
        print("timing grader check ...", file=sys.stderr, flush=True)
        chk = check_latency(args.check_repeats)
        costs = None
        if not args.no_profile:
            print("profiling a run's costs ...", file=sys.stderr, flush=True)
            import costs as costs_mod

            costs = costs_mod.profile()
        clustered = None
        if args.cluster:
            print("grading the same batch locally and on a loopback Dask cluster ...", file=sys.stderr, flush=True)
            import cluster as cluster_mod

            clustered = cluster_mod.describe(cluster_mod.compare(tmp / "submissions"))
        any_run = next(iter(res["seq"]["runs"].values()))
        meta.update(load_after=loadavg(), psi_after=psi(), tier=any_run["tier"], version=any_run["grader_version"])
        text = report(meta, batch, res["seq"], res["par"], chk, costs)
        if clustered:
            text += "\n## The same batch on a two-worker loopback Dask cluster\n\n" + "\n".join(
                f"    {line}" for line in clustered) + "\n"
        print(text)
        outdir = REPO / "benchmarks" / "results"
        outdir.mkdir(exist_ok=True)
        stamp = meta["when"].replace(":", "")
        (outdir / f"{stamp}.md").write_text(text)
        raw = {"meta": meta, "batch": batch, "check": chk, "costs": costs,
               **{k: {kk: vv for kk, vv in v.items() if kk != "runs"} | {
                   "verdicts": {"/".join(key): st for key, st in verdicts(v["runs"]).items()},
                   "overheads": overheads(v["runs"])} for k, v in res.items()}}
        (outdir / f"{stamp}.json").write_text(json.dumps(raw, indent=1))
        print(f"(written to benchmarks/results/{stamp}.md and .json; batch in {tmp if args.keep else 'a temp dir'})",
              file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
