"""`--observe psutil` end to end (what macOS and Windows get): the run's own observations come from psutil,
the grader observer's records from its channel. Every behaviour psutil can observe gets tier A's verdict; what
it cannot is `not_graded`, never failed (slow: grades real programs, in tier C, one server at a time)."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import PROGRAMS, REPO, grade_program

pytestmark = pytest.mark.slow


def manifest_fails(assignment: str, program: str) -> set[str]:
    entry = yaml.safe_load((PROGRAMS / assignment / "manifest.yaml").read_text())["programs"][program] or {}
    return set(entry.get("fails", []))


@pytest.mark.parametrize(("assignment", "program"), [
    ("gevent_server", None),  # the reference: full marks, uses_gevent included (greenlets seen at run time)
    ("gevent_server", "uses_threads_not_gevent"),
    ("select_server", "close_without_parens"),  # CLOSE_WAIT sockets, seen through psutil
])
def test_psutil_observer_gives_tier_a_verdicts_where_it_can_observe(assignment: str, program: str | None):
    folder = REPO / "reference" / assignment if program is None else PROGRAMS / assignment / program
    result = grade_program(assignment, folder, observe="psutil", jobs=1)
    assert result.tier == "plain (tier C)"  # psutil sees sockets only in the grader's own network namespace
    expected = set() if program is None else manifest_fails(assignment, program)
    graded = {b.id: b for b in result.behaviours if b.status != "not_graded"}
    failed = {bid for bid, b in graded.items() if not b.passed}
    assert failed == expected & set(graded), {b.id: b.summary for b in result.behaviours if not b.passed}
    for b in result.behaviours:
        assert b.status != "error", b.observed
        if b.status == "not_graded":
            assert (b.score, b.max_score) == (0, 0)
            assert b.summary.startswith("not graded here: ")
