"""One module per `grader` subcommand: each has add_parser(subparsers) and sets args.run."""

import argparse

LANG_HELP = ("language of every message: en or zh-CN (default: `language:` in grader.yaml, else English"
             "{env})")


def add_lang_option(p: argparse.ArgumentParser, *, environment: bool = False) -> None:
    """`--lang LANG`: overrides the course's `language:` (resolved once, in grader.cli)."""
    env = "; `grader check` reads LANGUAGE, LC_ALL, LC_MESSAGES, LANG when neither is set" if environment else ""
    p.add_argument("--lang", metavar="LANG", help=LANG_HELP.format(env=env))
