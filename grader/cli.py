"""`grader`: the command line. Each subcommand lives in grader/commands/<name>.py.

Exit codes: 0 every behaviour passed (or the command succeeded), 1 some behaviour failed, 2 usage or spec
errors.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from grader import __version__
from grader.errors import GraderError, UsageError
from grader.i18n import _

COMMANDS = ["check", "list", "validate", "export", "grade", "mutants", "cluster"]

EPILOG = """\
exit codes: 0 all behaviours passed / success, 1 some behaviour failed, 2 usage or spec error.
Run `grader COMMAND --help` for the options of each command."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grader", description="Grades concurrent network servers and gevent scripts from the outside.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"grader {__version__}")
    parser.add_argument("--course", metavar="FILE", help="course config (default: grader.yaml found upwards "
                                                         "from the current folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"grader.commands.{name.replace('-', '_')}")
        module.add_parser(sub)
    return parser


def use_language(args: argparse.Namespace) -> str:
    """Resolve the language once for this process: `--lang`, else grader.yaml's `language:`, else (for
    `grader check` only: a student's own machine) the environment, else English."""
    from grader import i18n
    from grader.spec import load_course

    course_language = None
    try:
        course_language = load_course(Path(args.course) if args.course else None).language
    except GraderError:
        pass  # the command loads the course again and reports what is wrong with it
    try:
        lang = i18n.resolve(getattr(args, "lang", None), course_language, use_environment=args.command == "check")
    except i18n.UnknownLanguage as exc:
        raise UsageError(str(exc)) from None
    i18n.use(lang)
    return lang


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        use_language(args)
        return int(args.run(args) or 0)
    except GraderError as exc:
        print(f"grader: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("grader: " + _("interrupted"), file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `grader list | head`: the reader left, nothing more to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
