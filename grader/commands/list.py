"""`grader list`: the assignments of the course and their behaviours."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader.i18n import _
from grader.spec import list_assignments, load_course, load_spec

HELP = "list the assignments and their behaviours"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help=HELP, description=HELP + ".")
    p.add_argument("--checks", action="store_true", help="list the behaviour library (checks and parameters)")
    p.add_argument("--markdown", action="store_true", help="with --checks: as Markdown (docs/checks.md)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.checks:
        from grader.checks import library
        from grader.checks.docs import checks_markdown

        if args.markdown:
            print(checks_markdown(), end="")
        else:
            checks = library()
            for name in sorted(checks):
                c = checks[name]
                params = ", ".join(c.params.model_fields) or _("no parameters")
                print(f"{name:<20} {c.doc.splitlines()[0] if c.doc else ''}\n{'':<20} "
                      + _("params: {params}").format(params=params))
        return 0
    course = load_course(Path(args.course) if args.course else None)
    names = list_assignments(course)
    if not names:
        print(_("no assignments under {path}").format(path=course.assignments_path))
        return 0
    for name in names:
        spec = load_spec(course.assignments_path / name / "assignment.yaml")
        print(_("{name}: {title} [{kind}, entry {entry}, {points} points]").format(
            name=name, title=spec.title, kind=spec.kind, entry=spec.entry, points=f"{spec.max_score:g}"))
        for b in spec.behaviours:
            vis = "" if b.visibility == "visible" else f" ({b.visibility})"
            print(f"  {b.id:<22} {b.points:>4g} " + _("pt") + f"  {b.check}{vis}")
    return 0
