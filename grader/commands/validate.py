"""`grader validate`: every spec loads, and every reference solution scores full marks."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader.commands import add_lang_option
from grader.errors import GraderError
from grader.i18n import _
from grader.session.runner import SessionOptions, grade
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
            print(_("FAIL {name}: {error}").format(name=name, error=exc))
            problems += 1
            continue
        for missing in spec.untranslated:  # reported, never fatal: grading falls back to English, marked
            print(_("note {name}: {problem}").format(name=name, problem=missing))
        if args.no_run:
            print(_("ok   {name}: spec valid ({n} behaviours)").format(name=name, n=len(spec.behaviours)))
            continue
        ref = course.reference_path / name
        if not ref.is_dir():
            print(_("FAIL {name}: no reference solution in {path}").format(name=name, path=ref))
            problems += 1
            continue
        result = grade(spec, ref, course, SessionOptions())
        if result.all_passed:
            print(_("ok   {name}: reference scores {score} ({seconds} s)").format(
                name=name, score=f"{result.score:g}/{result.max_score:g}", seconds=f"{result.duration:.1f}"))
        else:
            problems += 1
            failed = ", ".join(f"{b.id} ({b.summary})" for b in result.behaviours if not b.passed)
            print(_("FAIL {name}: reference scores {score}; failed: {failed}").format(
                name=name, score=f"{result.score:g}/{result.max_score:g}", failed=failed))
    return 0 if problems == 0 else 2
