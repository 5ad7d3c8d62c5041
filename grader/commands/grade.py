"""`grader grade [SUBMISSIONS]`: grade a whole class, in parallel, resumably; write gradebook and reports."""

from __future__ import annotations

import argparse
import os
from collections import Counter
from pathlib import Path

from grader.commands import add_lang_option
from grader.i18n import _, ngettext

HELP = "grade every submission of a class (parallel, resumable) and write a gradebook and a class report"
DESCRIPTION = """\
Grade every submission found in SUBMISSIONS (default: submissions_dir of grader.yaml) for every assignment
(or --assignment NAME), several runs at once, each in its own sandbox. Finished runs are journalled in
OUT/journal.jsonl as they complete: run the same command again after an interruption (Ctrl-C, a kill, a
reboot) and it continues where it stopped; a submission that changed since it was graded is graded again.

Writes into OUT (default: grader-out):
  <student>/<assignment>/results.json   Gradescope results.json
  <student>/<assignment>/feedback.md    what the student reads: each failure, why, what to try
  grades.csv                            student, assignment, score, max_score, one column per behaviour
  report.html, report.md                class report: score distribution, pass rate per behaviour,
                                        most common failures, per-student table linking the feedback

The folder layout comes from submissions_layout in grader.yaml ("{student}/{assignment}"); for a folder of
GitHub Classroom clones use e.g. --layout "{assignment}-{student}". See docs/batch.md.

exit codes: 0 graded, 1 graded but the grader itself failed on some behaviour (see the report), 2 usage or
spec error, 130 interrupted (run the same command again to continue)."""


def _csv_list(values: list[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for v in values or []:
        out += [x.strip() for x in v.split(",") if x.strip()]
    return tuple(dict.fromkeys(out))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grade", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("submissions", nargs="?", type=Path,
                   help="folder of submissions (default: submissions_dir from grader.yaml)")
    p.add_argument("--assignment", "-a", action="append", metavar="NAME",
                   help="grade only this assignment (repeat or comma-separate for several; default: all)")
    p.add_argument("--only", action="append", metavar="STUDENT",
                   help="grade only this student (repeat or comma-separate); the reports still cover the class")
    p.add_argument("--layout", metavar="PATTERN",
                   help="where a student's work for an assignment lives, relative to SUBMISSIONS, e.g. "
                        "'{student}/{assignment}' or '{assignment}-{student}' (default: submissions_layout "
                        "from grader.yaml)")
    p.add_argument("--out", "-o", type=Path, default=Path("grader-out"), metavar="DIR",
                   help="output folder, also holding the journal that makes the batch resumable "
                        "(default: grader-out)")
    p.add_argument("--workers", "-w", type=int, metavar="N",
                   help="runs graded at once (default: 4 per CPU core, at most 32, within the sandbox's "
                        "slots; each run also grades its behaviours at once, each on its own server)")
    p.add_argument("--no-throttle", action="store_true",
                   help="start runs as soon as a worker is free (by default starts are spaced out and held "
                        "while the CPU is oversubscribed, so that servers are not failed for starting late)")
    p.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="behaviours of one run graded at once (default: all)")
    p.add_argument("--rerun-failed", action="store_true",
                   help="grade again the journalled runs that did not get full marks")
    p.add_argument("--fresh", action="store_true",
                   help="ignore the journal and grade everything again (the old journal is kept as "
                        "journal.N.jsonl)")
    p.add_argument("--report-only", action="store_true",
                   help="grade nothing: rewrite the gradebook and reports from the journal")
    p.add_argument("--sandbox", default="auto",
                   help="isolation tier (default: the best this machine allows)")
    p.add_argument("--require-isolation", metavar="TIER",
                   help="refuse to grade below this isolation tier (A best, then B, C); with --cluster, checked "
                        "on each worker (a run on a worker below it is tried on another, then reported)")
    p.add_argument("--cluster", metavar="tls://HOST:PORT",
                   help="grade each run as a task on this Dask scheduler's workers (pip install "
                        "'grader[cluster]'); journal, gradebook and reports stay on this machine. tls:// with the "
                        "course's certificates (`grader cluster certs DIR` makes them and prints the scheduler and "
                        "worker commands); plain tcp:// only to a loopback address. See docs/batch.md")
    p.add_argument("--tls-ca-file", metavar="FILE",
                   help="with --cluster tls://: the course's CA certificate, ca.pem (default: tls_ca_file under "
                        "cluster: in grader.yaml, else Dask's distributed.comm.tls.ca-file)")
    p.add_argument("--tls-cert", metavar="FILE",
                   help="with --cluster tls://: this client's certificate, client.pem (default: tls_cert in "
                        "grader.yaml, else Dask's distributed.comm.tls.client.cert)")
    p.add_argument("--tls-key", metavar="FILE",
                   help="with --cluster tls://: this client's key, client-key.pem (default: tls_key in "
                        "grader.yaml, else Dask's distributed.comm.tls.client.key)")
    p.add_argument("--insecure-cluster", action="store_true",
                   help="allow --cluster tcp:// to a non-loopback address: unauthenticated and unencrypted, "
                        "anyone who reaches the scheduler can run code on the workers (warned on every run and in "
                        "the class report)")
    p.add_argument("--run-as", metavar="USER", help="run submissions as this unprivileged user (as root)")
    p.add_argument("--seed", type=int, help="seed of the random payloads for every run (default: fresh)")
    p.add_argument("--progress", choices=["auto", "bar", "lines", "none"], default="auto",
                   help="auto (default): a progress bar on a terminal, plain lines when not a tty or CI=true")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output (same as --progress none)")
    add_lang_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from grader.batch import progress as progress_mod
    from grader.batch.controller import BatchConfig, run_batch
    from grader.errors import UsageError
    from grader.spec import load_course

    insecure_warning = _cluster_guard(args)  # before anything else: decided from the address as written
    course = load_course(Path(args.course) if args.course else None)
    tls = _cluster_tls(args, course)
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.jobs < 0:
        raise UsageError("--jobs must be 0 (all) or more")
    if args.report_only and (args.rerun_failed or args.fresh):
        raise UsageError("--report-only grades nothing: drop --rerun-failed / --fresh")
    sandbox = None if args.sandbox == "auto" else args.sandbox
    if args.require_isolation and args.cluster is not None:
        from grader.sandbox import level_of

        level_of(args.require_isolation)  # a UsageError naming the levels; each worker then checks its own tier
    tier = None
    if args.require_isolation and args.cluster is None:  # on a cluster each worker checks its own tier
        from grader.sandbox import require_tier

        tier = require_tier(args.require_isolation, sandbox)  # exit 2 before anything runs; the batch grades in it
    root = args.submissions if args.submissions is not None else course.submissions_path
    cfg = BatchConfig(
        root=root.resolve(), layout=args.layout or course.submissions_layout, out=args.out.resolve(),
        assignments=_csv_list(args.assignment), students=_csv_list(args.only), workers=args.workers,
        jobs=args.jobs, rerun_failed=args.rerun_failed, fresh=args.fresh, sandbox=sandbox, tier=tier, seed=args.seed,
        run_as=args.run_as, grade=not args.report_only, throttle=not args.no_throttle,
        cluster=args.cluster.strip() if args.cluster else None, require_isolation=args.require_isolation,
        cluster_tls=tls, insecure_cluster=args.insecure_cluster)
    progress = progress_mod.choose("none" if args.quiet else args.progress)
    if insecure_warning:
        import sys

        print(_("grader: warning: {warning}").format(warning=insecure_warning), file=sys.stderr)
    report = run_batch(course, cfg, progress)
    return _conclude(report, args.out)


def _cluster_guard(args: argparse.Namespace) -> str | None:
    """Refuse an exposed --cluster address (exit 2) before anything connects; the warning to show when
    --insecure-cluster allows one."""
    from grader.errors import UsageError

    if args.cluster is None:
        named = [f for f, v in (("--tls-ca-file", args.tls_ca_file), ("--tls-cert", args.tls_cert),
                                ("--tls-key", args.tls_key), ("--insecure-cluster", args.insecure_cluster)) if v]
        if named:
            raise UsageError(_("{flags} only apply with --cluster").format(flags=", ".join(named)))
        return None
    if not args.cluster.strip():
        raise UsageError(_("--cluster needs the scheduler's address, e.g. --cluster tls://10.0.0.5:8786"))
    from grader.batch.security import check_address

    return check_address(args.cluster.strip(), insecure=args.insecure_cluster)


def _cluster_tls(args: argparse.Namespace, course):
    if args.cluster is None:
        return None
    from grader.batch.security import tls_files

    return tls_files(args.cluster.strip(), ca_file=args.tls_ca_file, cert=args.tls_cert, key=args.tls_key,
                     config=course.cluster.model_dump(), config_root=course.root)


def _conclude(report, out: Path) -> int:
    p, o = report.plan, report.outcome
    rel = os.path.relpath(out) if not str(os.path.relpath(out)).startswith("..") else str(out)
    if o.errors:
        job, exc = o.errors[0]
        from grader.errors import GraderError

        if isinstance(exc, GraderError):
            raise exc
        import sys
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
        print("grader: " + _("grading stopped at {key}: {error} (a fault of the grader, not of the submission). "
                             "The {n} run(s) that finished are saved in {journal}; run the same command again to "
                             "continue.").format(key=job.submission.key, error=f"{type(exc).__name__}: {exc}",
                                                 n=o.done, journal=f"{rel}/journal.jsonl"), file=sys.stderr)
        return 1
    if o.interrupted:
        saved = o.done
        print(_("interrupted: {n} run(s) finished and saved in {journal}; {left} not done. Run the same command "
                "again to continue.").format(n=saved, journal=f"{rel}/journal.jsonl", left=o.not_started + o.abandoned))
        return 130
    graded = o.done
    parts = [_("graded {n} run(s)").format(n=graded) if report.plan.jobs or p.reused else
             _("nothing graded: the gradebook and reports were rewritten from the journal")]
    if p.reused:
        parts.append(_("{n} already graded (journal)").format(n=len(p.reused)))
    if p.changed:
        parts.append(_("{n} changed since last graded").format(n=p.changed))
    if graded:
        held = (_("; starts held {seconds} s while the CPU was oversubscribed").format(
            seconds=f"{report.held_seconds:.0f}") if report.held_seconds >= 1 else "")
        cap = (_("at most {n} at once").format(n=report.peak_in_flight) if report.where.startswith("Dask") else
               _("at most {n} of {workers} workers{held}").format(n=report.peak_in_flight, workers=report.workers,
                                                                  held=held))
        parts.append(_("{seconds} s, {runs} runs at once on average ({cap}), isolation {tier}").format(
            seconds=f"{report.wall:.1f}", runs=f"{report.run_seconds / max(report.wall, 1e-3):.1f}", cap=cap,
            tier=report.where))
    print("; ".join(parts))
    if graded and report.longest_run:
        cpu = (_("busy CPU {busy} s / {cores} core(s) = {per_core} s, ").format(
            busy=f"{report.busy_cpu:.0f}", cores=report.cores, per_core=f"{report.busy_cpu / report.cores:.1f}")
            if report.busy_cpu is not None else "")
        waited = (_("; starts waited {cpu} s for the CPU, {spacing} s for spacing").format(
            cpu=f"{report.held_seconds:.1f}", spacing=f"{report.spaced_seconds:.1f}")
            if report.held_seconds or report.spaced_seconds else "")
        print(_("floor {floor} s ({cpu}longest run {longest} s): wall = {ratio}x the floor; order: {order}{waited}")
              .format(floor=f"{report.floor:.1f}", cpu=cpu, longest=f"{report.longest_run:.1f}",
                      ratio=f"{report.wall / max(report.floor, 1e-3):.2f}", order=report.order, waited=waited))
    by_worker = Counter(r.worker for r in report.results if r.worker)
    if by_worker:
        print(_("graded on: {workers}").format(workers=", ".join(
            f"{w} (" + ngettext("{n} run", "{n} runs", n).format(n=n) + ")" for w, n in sorted(by_worker.items()))))
    if not report.results:
        print(_("nothing graded: no submission folder matches the layout (see docs/batch.md)"))
        return 0
    errors = sum(1 for r in report.results if any(b.status == "error" for b in r.behaviours))
    full = sum(1 for r in report.results if r.all_passed)
    print(_("{n} run(s) in the gradebook: {full} with full marks").format(n=len(report.results), full=full)
          + (_(", {n} where the grader itself failed (regrade with --rerun-failed)").format(n=errors) if errors
             else ""))
    print(_("outputs in {folder}: {files}").format(
        folder=f"{rel}/",
        files="grades.csv, report.html, report.md, <student>/<assignment>/{results.json,feedback.md}"))
    return 1 if errors else 0
