"""`grader export gradescope|classroom ASSIGNMENT`: set an assignment up on Gradescope or GitHub Classroom."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader.commands import add_lang_option
from grader.i18n import _
from grader.spec import find_spec, load_course, load_spec

HELP = "build a Gradescope autograder zip or a GitHub Classroom workflow for an assignment"
DESCRIPTION = """\
gradescope: a zip to upload as the assignment's autograder ("Zip file upload"). It carries a wheel of this
  grader, the course config and the assignment's folder (never reference solutions); setup.sh installs them
  and creates the unprivileged user submissions run as; run_autograder always writes results.json.
classroom: .github/workflows/classroom.yml (plus the grader and the spec under .github/grader/) for the
  assignment's template repository; commit them. Points reach Classroom through
  classroom-resources/autograding-grading-reporter. The student controls that repository: official
  grades come from your own `grader grade` run.

See docs/integrations.md for step-by-step instructions."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    targets = p.add_subparsers(dest="target", metavar="TARGET", required=True)

    def common(t: argparse.ArgumentParser) -> None:
        t.add_argument("assignment", help="assignment name (see `grader list`) or path to an assignment.yaml")
        t.add_argument("--wheel", metavar="FILE", type=Path,
                       help="ship this grader wheel instead of building one from the running grader")
        t.add_argument("--python", default="3.11", metavar="X.Y", help="Python version to grade with (3.11)")
        t.add_argument("--no-pin", dest="pin", action="store_false",
                       help="do not pin the dependencies to the versions installed here")
        add_lang_option(t)

    g = targets.add_parser("gradescope", help="autograder zip for Gradescope",
                           description="Build the autograder zip for Gradescope (upload it under "
                                       "Configure Autograder > Zip file upload).")
    common(g)
    g.add_argument("-o", "--output", metavar="FILE", type=Path,
                   help="where to write the zip (default: ASSIGNMENT-autograder.zip)")
    g.add_argument("--run-as", default="student", metavar="USER",
                   help="unprivileged user setup.sh creates and submissions run as (default: student)")
    g.add_argument("--time-limit", type=int, default=540, metavar="SECONDS",
                   help="stop grading after this long and say so (default: 540, under Gradescope's 10 min)")
    g.set_defaults(run=run_gradescope)

    c = targets.add_parser("classroom", help="GitHub Classroom workflow for the template repository",
                           description="Write .github/workflows/classroom.yml and .github/grader/ into the "
                                       "template repository at DIR.")
    common(c)
    c.add_argument("-o", "--output", metavar="DIR", type=Path, default=Path("."),
                   help="root of the template repository (default: .)")
    c.add_argument("--install", metavar="REQUIREMENT",
                   help="what the workflow pip-installs instead of the bundled wheel, e.g. "
                        "'grader @ git+https://github.com/ORG/grader@v0.1.0' or a wheel URL")
    c.add_argument("--include-hidden", action="store_true",
                   help="keep behaviours that are not visible to students (Classroom cannot hide them)")
    c.add_argument("--submission", default=".", metavar="PATH",
                   help="folder of the student's repository that holds the submission (default: .)")
    c.add_argument("--timeout-minutes", type=int, default=15, help="the workflow job's timeout (default: 15)")
    c.add_argument("--force", action="store_true", help="replace a classroom.yml not written by this command")
    c.set_defaults(run=run_classroom)


def _load(args: argparse.Namespace):
    from grader import i18n

    course = load_course(Path(args.course) if args.course else None)
    if args.lang:  # the exported course config carries the language (resolved once in grader.cli)
        course = course.model_copy(update={"language": i18n.language()})
    return course, load_spec(find_spec(course, args.assignment))


def _report(export, what: str) -> None:
    print(_("wrote {path} ({what})").format(path=export.path, what=what))
    for f in export.files:
        print(f"  {f}")
    for note in export.notes:
        print(_("note: {note}").format(note=note))


def run_gradescope(args: argparse.Namespace) -> int:
    from grader.export.gradescope import export_gradescope

    course, spec = _load(args)
    out = args.output or Path(f"{spec.name}-autograder.zip")
    export = export_gradescope(course, spec, out, wheel=args.wheel, run_as=args.run_as, python=args.python,
                               time_limit=args.time_limit, pin=args.pin)
    _report(export, _("Gradescope autograder for {assignment}, {points} points").format(
        assignment=spec.name, points=f"{spec.max_score:g}"))
    print(_("next: Gradescope > assignment > Configure Autograder > Zip file upload; see docs/integrations.md"))
    return 0


def run_classroom(args: argparse.Namespace) -> int:
    from grader.export.classroom import export_classroom

    course, spec = _load(args)
    export = export_classroom(course, spec, args.output, install=args.install, wheel=args.wheel,
                              include_hidden=args.include_hidden, python=args.python, pin=args.pin,
                              submission=args.submission, timeout_minutes=args.timeout_minutes,
                              force=args.force)
    _report(export, _("GitHub Classroom workflow for {assignment}").format(assignment=spec.name))
    print(_("next: commit .github/ to the template repository; see docs/integrations.md"))
    return 0
