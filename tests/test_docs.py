"""The documentation keeps up with the command line: every command has help text, a description and a row in
the README, every option says what it does, and `--help` works for each (in-process, milliseconds)."""

from __future__ import annotations

import argparse
import re

import pytest

from grader.cli import COMMANDS, build_parser
from tests.conftest import REPO


def commands() -> dict[str, tuple[str, argparse.ArgumentParser]]:
    """Every command and sub-command (`export gradescope`): its one-line help and its parser."""
    out = {}

    def walk(prefix: str, parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                for name, child in action.choices.items():
                    full = f"{prefix} {name}".strip()
                    out[full] = (helps.get(name) or "", child)
                    walk(full, child)

    walk("", build_parser())
    return out


def test_every_command_is_found():
    found = commands()
    assert set(COMMANDS) <= set(found)
    assert {"export gradescope", "export classroom"} <= set(found)


@pytest.mark.parametrize("name", sorted(commands()))
def test_command_has_help_and_a_description(name):
    help_line, parser = commands()[name]
    assert help_line.strip(), f"`grader {name}` has no help line (add_parser(..., help=...))"
    assert (parser.description or "").strip(), f"`grader {name}` has no description"


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_option_says_what_it_does(name):
    _help, parser = commands()[name]
    silent = [a.option_strings or [a.dest] for a in parser._actions
              if not isinstance(a, argparse._SubParsersAction) and not (a.help or "").strip()]
    assert silent == [], f"`grader {name}`: no help text for {silent}"


def test_every_top_level_command_is_in_the_readme_table():
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `grader (\w+)", table, flags=re.M)
    assert sorted(rows) == sorted(COMMANDS), "README.md's Commands table and grader.cli.COMMANDS differ"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_prints_and_exits_0(name, capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args([*name.split(), "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: grader {name}")
    if name == "check":
        assert "exit codes" in out
