"""The grading engine as a pytest plugin, tested with pytester in a separate pytest process."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.conftest import REPO, needs_root

SPEC = """\
title: tiny
entry: main.py
kind: script
behaviours:
  - id: runs
    check: runs
    points: 2
    visibility: hidden
    params: {{timeout: 5, expect_lines: ['hello']}}
  - id: uses_print
    check: uses
    points: 1
    params: {{any_of: [print]}}
"""


@pytest.fixture
def assignment(pytester: pytest.Pytester):
    pytester.makefile(".yaml", assignment=SPEC.format())
    sub = pytester.mkdir("sub")
    return sub


def run(pytester: pytest.Pytester, sub, *extra):
    return pytester.runpytest_subprocess("-p", "grader.session.plugin", "-p", "no:cacheprovider",
                                         "--grader-submission", str(sub), "assignment.yaml", *extra)


@needs_root
def test_behaviours_are_items_with_points_in_user_properties(pytester, assignment):
    (assignment / "main.py").write_text("print('hello')\n")
    res = run(pytester, assignment, "-v", "--junitxml=out.xml", "--grader-results=r.jsonl")
    res.assert_outcomes(passed=2)
    res.stdout.fnmatch_lines(["*assignment.yaml::runs PASSED*", "*assignment.yaml::uses_print PASSED*"])
    xml = (pytester.path / "out.xml").read_text()
    assert 'name="points" value="2' in xml
    assert 'name="visibility" value="hidden"' in xml
    lines = [json.loads(x) for x in (pytester.path / "r.jsonl").read_text().splitlines()]
    assert [x["result"]["id"] for x in lines] == ["runs", "uses_print"]
    assert all(x["event"] == "behaviour" and x["result"]["status"] == "passed" for x in lines)


@needs_root
def test_failure_is_reported_with_the_student_facing_message(pytester, assignment):
    (assignment / "main.py").write_text("import sys\nsys.stdout.write('bye\\n')\n")
    res = run(pytester, assignment)
    res.assert_outcomes(passed=0, failed=2)
    res.stdout.fnmatch_lines(["*runs: 1 expected line(s) never printed*", "*expected:*'hello'*",
                              "*uses_print: main.py never calls print*"])


def test_missing_submission_option_is_a_usage_error(pytester, assignment):
    res = pytester.runpytest_subprocess("-p", "grader.session.plugin", "assignment.yaml")
    assert res.ret != 0
    res.stdout.fnmatch_lines(["*--grader-submission DIR is required*"])


def test_only_selects_behaviours(pytester, assignment):
    (assignment / "main.py").write_text("print('hello')\n")
    res = run(pytester, assignment, "-v", "--grader-only", "uses_print", "--grader-results=r.jsonl")
    res.assert_outcomes(passed=1)
    res.stdout.fnmatch_lines(["*assignment.yaml::uses_print PASSED*"])
    res.stdout.no_fnmatch_line("*::runs *")
    graded = [json.loads(x)["result"]["id"] for x in (pytester.path / "r.jsonl").read_text().splitlines()]
    assert graded == ["uses_print"]


def test_custom_check_in_assignment_folder_uses_fixtures(pytester):
    """Instructors drop plain pytest tests next to the spec; fixtures give them the submission."""
    pytester.makefile(".yaml", assignment=SPEC.format())
    sub = pytester.mkdir("sub")
    (sub / "main.py").write_text("# counts words\nprint('hello')\n")
    pytester.makepyfile(test_custom=textwrap.dedent("""\
        import pytest

        @pytest.mark.grader_points(3)
        def test_has_a_comment(submission_source):
            assert submission_source.startswith("#"), "start main.py with a comment saying what it does"

        @pytest.mark.grader_points(2, hint="say goodbye")
        def test_says_goodbye(submission_source):
            assert "goodbye" in submission_source, "main.py never says goodbye"
        """))
    res = pytester.runpytest_subprocess("-p", "grader.session.plugin", "--grader-submission", str(sub),
                                        "--grader-results=r.jsonl", ".",
                                        "--grader-only", "uses_print,test_has_a_comment,test_says_goodbye")
    res.assert_outcomes(passed=2, failed=1)
    lines = {x["id"]: x for x in
             (json.loads(ln)["result"] for ln in (pytester.path / "r.jsonl").read_text().splitlines())}
    assert set(lines) == {"uses_print", "test_has_a_comment", "test_says_goodbye"}
    good, bad = lines["test_has_a_comment"], lines["test_says_goodbye"]
    assert good["max_score"] == 3
    assert good["score"] == 3
    assert good["check"] == "custom"
    assert bad["score"] == 0
    assert bad["max_score"] == 2
    assert bad["status"] == "failed"
    assert bad["summary"].startswith("main.py never says goodbye")
    assert bad["hint"] == "say goodbye"


def _doc_example() -> str:
    text = (REPO / "docs" / "custom-checks.md").read_text()
    return text.split("```python\n", 1)[1].split("```", 1)[0]


@needs_root
@pytest.mark.parametrize(("program", "passes"), [("reference", True), ("fixed_reply", False)])
def test_documented_custom_check_example_works_both_ways(pytester, program, passes):
    pytester.makefile(".yaml", assignment=(REPO / "assignments/select_server/assignment.yaml").read_text())
    pytester.makepyfile(test_split_message=_doc_example())
    sub = (REPO / "reference/select_server" if program == "reference"
           else REPO / "tests/programs/select_server/fixed_reply")
    res = pytester.runpytest_subprocess("-p", "grader.session.plugin", "--grader-submission", str(sub), ".",
                                        "--grader-only", "test_split_message")
    res.assert_outcomes(passed=1) if passes else res.assert_outcomes(failed=1)
