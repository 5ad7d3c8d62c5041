"""Specs load into typed objects; every error names the file, the line, the key, and the fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grader.cli import main
from grader.errors import SpecError
from grader.spec import list_assignments, load_course, load_spec
from tests.conftest import COURSE

GOOD = """\
title: t
entry: server.py
kind: server
behaviours:
  - id: echo
    check: echo
    points: 2
  - id: idle_cpu
    check: idle_cpu
    params: {max_cpu_percent: 10}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "a" / "assignment.yaml"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))
    return p


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(SpecError) as exc:
        load_spec(write(tmp_path, text))
    return str(exc.value)


def test_good_spec_loads_typed(tmp_path):
    spec = load_spec(write(tmp_path, GOOD))
    assert spec.name == "a"
    assert str(spec.address) == "127.0.0.1:9000"
    assert [b.id for b in spec.behaviours] == ["echo", "idle_cpu"]
    assert spec.behaviour("echo").points == 2
    assert spec.max_score == 3


def test_every_bundled_spec_is_valid():
    names = list_assignments(COURSE)
    assert set(names) >= {"gevent_join", "nonblocking_server", "select_server", "gevent_server", "threaded_server"}
    for name in names:
        load_spec(COURSE.assignments_path / name / "assignment.yaml")


def test_misspelt_param_names_line_and_suggests(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("max_cpu_percent", "max_cpu_percnt"))
    assert "assignment.yaml:10:" in msg
    assert "behaviour 'idle_cpu'" in msg
    assert "unknown key 'max_cpu_percnt'" in msg
    assert "did you mean 'max_cpu_percent'?" in msg


def test_misspelt_behaviour_key_suggests(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("    points: 2", "    pionts: 2"))
    assert ":7:" in msg
    assert "unknown key 'pionts'" in msg
    assert "did you mean 'points'?" in msg


def test_misspelt_top_level_key(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("entry:", "entyr:"))
    assert ":2:" in msg
    assert "did you mean 'entry'?" in msg


def test_unknown_check_suggests(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("check: echo", "check: ecoh"))
    assert ":6:" in msg
    assert "unknown check 'ecoh'" in msg
    assert "did you mean 'echo'?" in msg


def test_wrong_type_names_the_key(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("points: 2", "points: lots"))
    assert ":7:" in msg
    assert "points" in msg
    assert "number" in msg


def test_bad_visibility_lists_choices(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("    points: 2", "    points: 2\n    visibility: secret"))
    assert "visibility" in msg
    assert "'hidden'" in msg
    assert "'secret'" in msg


def test_missing_required_key(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("kind: server\n", ""))
    assert "missing required key 'kind'" in msg


def test_duplicate_behaviour_id(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("id: idle_cpu", "id: echo"))
    assert ":8:" in msg
    assert "duplicate behaviour id" in msg


def test_malformed_yaml_has_line_and_fix(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("  - id: echo\n", "  - id: echo\n   bad: [\n"))
    assert "assignment.yaml:" in msg
    assert "YAML syntax" in msg
    assert "indentation" in msg


def test_bad_address(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("kind: server\n", "kind: server\naddress: nowhere\n"))
    assert ":4:" in msg
    assert "127.0.0.1:9000" in msg


def test_check_of_wrong_kind(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("kind: server", "kind: script"))
    assert "works on server assignments, not 'script'" in msg


def test_course_config_errors_point_at_line(tmp_path):
    p = tmp_path / "grader.yaml"
    p.write_text("course: x\ndefaults:\n  startup_timout: 3\n")
    with pytest.raises(SpecError) as exc:
        load_course(p)
    assert "grader.yaml:3:" in str(exc.value)
    assert "did you mean 'startup_timeout'?" in str(exc.value)


def test_cli_reports_spec_error_without_traceback(tmp_path, capsys):
    write(tmp_path, GOOD.replace("check: echo", "check: ecoh"))
    (tmp_path / "grader.yaml").write_text("assignments_dir: .\n")
    code = main(["--course", str(tmp_path / "grader.yaml"), "validate", "--no-run"])
    out = capsys.readouterr()
    assert code == 2
    assert "unknown check 'ecoh'" in out.out + out.err
    assert "Traceback" not in out.out + out.err


def test_checks_reference_doc_is_in_sync():
    """docs/checks.md is generated from the registry: regenerate with
    `grader list --checks --markdown > docs/checks.md`."""
    from grader.checks.docs import checks_markdown
    from tests.conftest import REPO

    assert (REPO / "docs" / "checks.md").read_text() == checks_markdown()
    assert "|  |" not in checks_markdown(), "every parameter needs a description"
