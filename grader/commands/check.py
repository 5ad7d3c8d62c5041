"""`grader check ASSIGNMENT [PATH]`: grade one submission and explain every failure."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from grader.commands import add_lang_option
from grader.i18n import _
from grader.reporters.gradescope import to_gradescope
from grader.reporters.terminal import render
from grader.sandbox.types import LEVELS, OBSERVE_MODES, TIER_NAMES  # a leaf: no tier is loaded
from grader.session.runner import SessionOptions, grade
from grader.spec import find_spec, load_course, load_spec

HELP = "grade one submission (PATH, default: the current folder) against an assignment"
DESCRIPTION = """\
Grade the submission in PATH against ASSIGNMENT (a name under assignments/, or a path to an
assignment.yaml). Each behaviour runs on a fresh, sandboxed instance of the submission. Prints a line per
behaviour and, for each failure, what the grader did, what it expected, what it observed, a hint and a
command to rerun just that behaviour.

With --repeat N the submission is graded N times and every behaviour whose verdict changed is reported
(for disputed grades: a stable grader gives the same verdict every time).

exit codes: 0 every behaviour passed, 1 some failed, 2 usage or spec error, 3 (--repeat) a verdict changed
across the runs."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignment", help="assignment name (see `grader list`) or path to its assignment.yaml")
    p.add_argument("path", nargs="?", default=".", help="folder with the submission (default: .)")
    p.add_argument("--only", metavar="IDS", help="comma-separated behaviour ids to grade (default: all)")
    p.add_argument("--seed", type=int, help="seed of the random payloads (to reproduce a run)")
    p.add_argument("--jobs", type=int, default=0,
                   help="behaviours graded at once, each on its own server (default: all at once where every "
                        "run has its own network namespace, else 1)")
    p.add_argument("--sandbox", choices=["auto", *TIER_NAMES], default="auto",
                   help="isolation tier to use (default: the best this machine allows; see docs/sandbox.md)")
    p.add_argument("--require-isolation", metavar="TIER", choices=LEVELS, type=str.upper,
                   help="refuse to grade (exit 2) unless the isolation tier is at least TIER: A (root, "
                        "bubblewrap, cgroups: for official grades), B (namespaces), C (plain processes)")
    p.add_argument("--observe", choices=OBSERVE_MODES, default="auto",
                   help="how runs are observed: /proc (default) or psutil (macOS/Windows; which checks it cannot "
                        "observe are reported as not graded; see docs/sandbox.md)")
    p.add_argument("--run-as", metavar="USER", help="run the submission as this unprivileged user (when the "
                                                     "grader runs as root, e.g. on Gradescope)")
    p.add_argument("--results", metavar="FILE", type=Path, help="also write Gradescope's results.json here")
    p.add_argument("--junitxml", metavar="FILE", type=Path, help="also write JUnit XML here")
    p.add_argument("--json", action="store_true", help="print the full result as JSON instead of text")
    p.add_argument("--classroom", action="store_true",
                   help="GitHub Classroom: print the runner result JSON (the report goes to stderr), write "
                        "result=<base64> to $GITHUB_OUTPUT and a Markdown summary to $GITHUB_STEP_SUMMARY; "
                        "exits 0 once graded (the reporter step fails the job)")
    p.add_argument("--repeat", metavar="N", type=int, default=1,
                   help="grade N times and report every behaviour whose verdict changed across the runs "
                        "(exit 3 if one did)")
    p.add_argument("-v", "--verbose", action="store_true", help="show the grading session's pytest output")
    add_lang_option(p, environment=True)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from grader.errors import GraderError

    try:
        return _run(args)
    except GraderError as exc:
        if getattr(args, "classroom", False):  # the reporter step then prints why and fails the job
            from grader.reporters import classroom

            classroom.emit(classroom.error_result(f"grader: {exc}"))
        raise


def _run(args: argparse.Namespace) -> int:
    from grader.errors import UsageError
    from grader.sandbox import choose_sandbox, require_tier

    course = load_course(Path(args.course) if args.course else None)
    spec = load_spec(find_spec(course, args.assignment))
    path = Path(args.path)
    if not path.exists():
        raise UsageError(_("submission folder {path} does not exist").format(path=path))
    only = tuple(x.strip() for x in args.only.split(",")) if args.only else ()
    unknown = [x for x in only if x not in {b.id for b in spec.behaviours}]
    if unknown:
        raise UsageError(_("unknown behaviour(s) {ids} for {assignment} (known: {known})").format(
            ids=", ".join(unknown), assignment=spec.name, known=", ".join(b.id for b in spec.behaviours)))
    sandbox = None if args.sandbox == "auto" else args.sandbox
    observe = "auto" if args.observe == "procfs" else args.observe
    jobs = args.jobs
    if args.repeat < 1:
        raise UsageError(_("--repeat must be at least 1, not {n}").format(n=args.repeat))
    if args.repeat > 1 and (args.results or args.junitxml or getattr(args, "classroom", False)):
        raise UsageError(_("--repeat reports verdict changes only; use --results/--junitxml/--classroom without it"))
    # the tier, chosen once (and proven) for every session this command starts: exit 2 before anything runs
    tier = (require_tier(args.require_isolation, sandbox, observe=observe) if args.require_isolation
            else choose_sandbox(sandbox, observe=observe))
    if jobs == 0 and tier.shares_host_port:
        jobs = 1  # one port, one server at a time
    options = SessionOptions(jobs=jobs, tier=tier, seed=args.seed, only=only, junitxml=args.junitxml,
                         verbose=args.verbose, run_as=args.run_as, observe=observe,
                         require_isolation=args.require_isolation)
    if args.repeat > 1:
        return _repeat(spec, path, course, options, args)
    result = grade(spec, path, course, options)
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(to_gradescope(result), indent=2) + "\n", encoding="utf-8")
    if getattr(args, "classroom", False):
        import sys

        from grader.reporters import classroom

        runner = classroom.to_classroom(result)
        classroom.emit(runner, classroom.step_summary(result))
        print(render(result), file=sys.stderr, flush=True)
        print(json.dumps(runner, indent=2))
        return 0
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print(render(result))
    return 0 if result.all_passed else 1


def _repeat(spec, path: Path, course, options: SessionOptions, args: argparse.Namespace) -> int:
    from grader.reporters.flips import changed, render_changes

    runs = [grade(spec, path, course, options) for _ in range(args.repeat)]
    if args.json:
        print(json.dumps({"changed": changed(runs), "runs": [r.model_dump(mode="json") for r in runs]}, indent=2))
    else:
        print(render(runs[-1]))
        print()
        print(render_changes(runs))
    if changed(runs):
        return 3
    return 0 if runs[-1].all_passed else 1
