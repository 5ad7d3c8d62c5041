"""`grader mutants ASSIGNMENT`: grade mutants of the reference solution; which behaviours kill which mistake."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from grader.i18n import _

HELP = "grade mutants of the reference solution to see which student mistakes the spec catches"
DESCRIPTION = """\
Make mutants of the reference solution (reference/ASSIGNMENT/, or --reference PATH: any solution that passes
every behaviour), each one of the course's typical mistakes (a missing conn.setblocking(False), close() without
parentheses, b'' not checked, select() with a timeout of 0, monkey.patch_all() after import socket, ...; see
--list-operators and docs/mutants.md), and grade every mutant with the real engine and sandbox, through the batch
scheduler: in parallel, resumable (run the same command again after an interruption), on a Dask cluster with
--cluster. Duplicates and mutants trivially equal to the original are removed before grading; mutants that never
start are reported as stillborn; the reviewed equivalent mutants in assignments/ASSIGNMENT/equivalent-mutants.yaml
are graded but not scored.

Writes into OUT (default: grader-mutants/ASSIGNMENT):
  mutants.md, mutants.html    the kill matrix (mutant x behaviour), score per behaviour and in total, every
                              survivor with its diff and the behaviours that should have caught it
  mutants.json                as --json FILE
  sources/<mutant>/           the mutants as submission folders; batch/ the batch's journal and results

exit codes: 0 done (and the score is at least --min-score), 1 the score is below --min-score or the grader
failed on some mutant, 2 usage or spec error, 130 interrupted (run the same command again to continue)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mutants", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignment", nargs="?", help="the assignment whose spec is audited")
    p.add_argument("--reference", type=Path, metavar="PATH",
                   help="the solution to mutate: a folder holding the entry file, or the file (default: "
                        "reference/ASSIGNMENT/)")
    p.add_argument("--operators", metavar="NAMES",
                   help="comma-separated operator names, 'course' (the course's mistakes) or 'generic' "
                        "(default: all; see --list-operators)")
    p.add_argument("--list-operators", action="store_true", help="print every operator and the mistake it models")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", "-w", type=int, metavar="N",
                       help="mutants graded at once (default: as grader grade: 4 per CPU core, within the slots)")
    where.add_argument("--cluster", metavar="tcp://HOST:PORT",
                       help="grade each mutant as a task on this Dask scheduler's workers (docs/batch.md)")
    p.add_argument("--out", "-o", type=Path, metavar="DIR", help="output folder (default: grader-mutants/ASSIGNMENT)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the JSON report here")
    p.add_argument("--min-score", type=float, metavar="PCT",
                   help="exit 1 if the mutation score (percent of counted mutants killed) is below PCT")
    p.add_argument("--fresh", action="store_true", help="grade every mutant again (the old journal is kept)")
    p.add_argument("--dry-run", action="store_true", help="only make the mutants and list them; grade nothing")
    p.add_argument("--sandbox", default="auto", help="isolation tier (default: the best this machine allows)")
    p.add_argument("--seed", type=int, help="seed of the random payloads for every run (default: fresh)")
    p.add_argument("--progress", choices=["auto", "bar", "lines", "none"], default="auto",
                   help="auto (default): a progress bar on a terminal, plain lines when not a tty or CI=true")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output (same as --progress none)")
    p.set_defaults(run=run)


def list_operators() -> str:
    from grader.mutants.operators import GENERIC, OPERATORS, mistake

    width = max(len(n) for n in OPERATORS)
    lines = []
    for generic in (False, True):
        lines.append(_("generic operators:") if generic else _("the course's mistakes:"))
        lines += [f"  {n:<{width}}  {mistake(n)}" for n in OPERATORS if (n in GENERIC) == generic]
    return "\n".join(lines)


def _source(args: argparse.Namespace, course, spec) -> tuple[str, Path | None, Path]:
    from grader.errors import UsageError

    ref = args.reference if args.reference is not None else course.root / "reference" / spec.name
    ref = ref.resolve() if ref.exists() else ref
    if ref.is_dir():
        entry, folder = ref / spec.entry, ref
    else:
        entry, folder = ref, None
        if ref.is_file() and ref.name != spec.entry:
            raise UsageError(_("--reference {path}: the entry of {assignment} is {entry}; pass the folder holding "
                               "it or a file named {entry}").format(path=ref, assignment=spec.name, entry=spec.entry))
    if not entry.is_file():
        raise UsageError(_("no {entry} in {path}: give the solution to mutate with --reference PATH").format(
            entry=spec.entry, path=ref))
    try:
        return entry.read_text(encoding="utf-8"), folder, entry
    except UnicodeDecodeError:
        raise UsageError(_("{path} is not UTF-8 text").format(path=entry)) from None


def run(args: argparse.Namespace) -> int:
    from grader.errors import UsageError

    if args.list_operators:
        print(list_operators())
        return 0
    if not args.assignment:
        raise UsageError(_("name the assignment: grader mutants ASSIGNMENT (grader list shows them)"))
    if args.workers is not None and args.workers < 1:
        raise UsageError(_("--workers must be at least 1"))
    if args.min_score is not None and not 0 <= args.min_score <= 100:
        raise UsageError(_("--min-score is a percentage: 0 to 100"))
    if args.cluster is not None and not args.cluster.strip():
        raise UsageError(_("--cluster needs the scheduler's address, e.g. --cluster tcp://10.0.0.5:8786"))

    from grader.batch import progress as progress_mod
    from grader.mutants import equivalent, operators, report
    from grader.mutants.generate import generate
    from grader.mutants.grade import grade_mutants
    from grader.spec import list_assignments, load_course, load_spec

    course = load_course(Path(args.course) if args.course else None)
    known = list_assignments(course)
    if args.assignment not in known:
        raise UsageError(_("unknown assignment {name!r} (known: {known})").format(
            name=args.assignment, known=", ".join(known)))
    spec = load_spec(course.assignments_path / args.assignment / "assignment.yaml")
    try:
        names = operators.names(args.operators)
    except ValueError as exc:
        raise UsageError(_("--operators: unknown operator {name!r} (known: course, generic, {known})").format(
            name=str(exc), known=", ".join(operators.OPERATORS))) from None
    text, folder, entry = _source(args, course, spec)
    try:
        gen = generate(text, names, spec.entry)
    except SyntaxError as exc:
        raise UsageError(_("{path}:{line}: the solution to mutate does not parse ({msg})").format(
            path=entry, line=exc.lineno, msg=exc.msg)) from None
    review = equivalent.load(course.assignments_path / args.assignment)
    if args.dry_run:
        for m in gen.mutants:
            print(f"{m.id:<40} {m.fingerprint}  {m.description}" + (f"  [{m.stillborn}]" if m.stillborn else ""))
        print(_("{n} mutants ({dups} duplicates and {trivial} equal to the original removed)").format(
            n=len(gen.mutants), dups=len(gen.duplicates), trivial=len(gen.trivial)))
        return 0
    out = (args.out or Path("grader-mutants") / args.assignment).resolve()
    progress = progress_mod.choose("none" if args.quiet else args.progress)
    outcome = grade_mutants(course, spec, gen, review, out, reference_dir=folder, workers=args.workers,
                            cluster=args.cluster.strip() if args.cluster else None,
                            sandbox=None if args.sandbox == "auto" else args.sandbox, seed=args.seed,
                            fresh=args.fresh, progress=progress)
    batch = outcome.batch
    if batch is not None and batch.outcome.errors:
        _job, error = batch.outcome.errors[0]
        raise error
    if batch is not None and batch.outcome.interrupted:
        print(_("interrupted: the mutants graded so far are saved in {path}; run the same command again to "
                "continue").format(path=out / "batch" / "journal.jsonl"))
        return 130
    from grader.batch.outputs import write_atomic

    data = report.to_json(outcome)
    blob = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_atomic(out / "mutants.json", blob)
    write_atomic(out / "mutants.md", report.markdown(outcome))
    write_atomic(out / "mutants.html", report.html(outcome))
    if args.json is not None:
        write_atomic(args.json.resolve(), blob)
    print(report.terminal(outcome), end="")
    print(_("reports: {md}, {html}, {json}").format(md=out / "mutants.md", html=out / "mutants.html",
                                                     json=out / "mutants.json"))
    if args.min_score is not None and outcome.score < args.min_score:
        print(_("mutation score {score} is below --min-score {min}").format(score=f"{outcome.score:g}%",
                                                                            min=f"{args.min_score:g}%"))
        return 1
    return 1 if any(v.errors for v in outcome.verdicts) else 0
