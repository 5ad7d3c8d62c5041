"""`grader validate`: every spec loads, and every reference solution scores full marks."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader.commands import add_lang_option
from grader.errors import GraderError
from grader.runner import RunOptions, grade
from grader.spec import list_assignments, load_course, load_spec

HELP = "check every assignment spec and grade every reference solution (must score full marks)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help=HELP, description=HELP + ".")
    p.add_argument("assignments", nargs="*", help="only these assignments (default: all)")
    p.add_argument("--no-run", action="store_true", help="only load the specs, do not grade the references")
    add_lang_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    course = load_course(Path(args.course) if args.course else None)
    names = args.assignments or list_assignments(course)
    problems = 0
    for name in names:
        path = course.assignments_path / name / "assignment.yaml"
        try:
            spec = load_spec(path)
        except GraderError as exc:
            print(f"FAIL {name}: {exc}")
            problems += 1
            continue
        if args.no_run:
            print(f"ok   {name}: spec valid ({len(spec.behaviours)} behaviours)")
            continue
        ref = course.reference_path / name
        if not ref.is_dir():
            print(f"FAIL {name}: no reference solution in {ref}")
            problems += 1
            continue
        result = grade(spec, ref, course, RunOptions())
        if result.all_passed:
            print(f"ok   {name}: reference scores {result.score:g}/{result.max_score:g} ({result.duration:.1f} s)")
        else:
            problems += 1
            failed = ", ".join(f"{b.id} ({b.summary})" for b in result.behaviours if not b.passed)
            print(f"FAIL {name}: reference scores {result.score:g}/{result.max_score:g}; failed: {failed}")
    return 0 if problems == 0 else 2
