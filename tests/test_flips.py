"""Verdict changes across repeated gradings (grader check --repeat N): found on plain results, and the CLI."""

from __future__ import annotations

import pytest

from grader.behaviour.engine import Attempt, should_regrade, with_windows_accept
from grader.failure import BehaviourFailed
from grader.reporters.flips import changed, render_changes
from grader.results import BehaviourResult, SubmissionResult
from grader.spec import Behaviour, Options, Spec
from tests.conftest import PROGRAMS, REPO, needs_root
from tests.test_cli import grader


def run_of(**statuses: str) -> SubmissionResult:
    return SubmissionResult(assignment="a", submission="s", behaviours=[
        BehaviourResult(id=bid, status=st, score=0 if st != "passed" else 1, max_score=1,
                        summary="" if st == "passed" else f"{bid} went wrong", rerun=f"grader check a s --only {bid}")
        for bid, st in statuses.items()])


def test_a_stable_grade_has_no_changes():
    runs = [run_of(echo="passed", abrupt="failed") for _ in range(3)]
    assert changed(runs) == {}
    assert "no verdict changed" in render_changes(runs)


def test_a_flip_is_reported_with_each_outcome_once():
    runs = [run_of(echo="passed", abrupt="failed"), run_of(echo="passed", abrupt="passed"),
            run_of(echo="passed", abrupt="failed")]
    assert changed(runs) == {"abrupt": ["failed", "passed", "failed"]}
    text = render_changes(runs)
    assert "1 behaviour(s) changed verdict" in text
    assert text.count("abrupt went wrong") == 1
    assert "--only abrupt" in text


def test_repeat_must_be_positive(capsys):
    from grader.cli import main

    assert main(["--course", str(REPO / "grader.yaml"), "check", "select_server",
                 str(PROGRAMS / "select_server" / "guards_only_recv"), "--repeat", "0"]) == 2
    assert "--repeat must be at least 1" in capsys.readouterr().err


@pytest.mark.slow
@needs_root
def test_repeat_finds_no_change_on_a_fault_delivered_in_a_fixed_order():
    proc = grader("check", "select_server", str(PROGRAMS / "select_server" / "guards_only_recv"),
                  "--only", "abrupt_disconnect", "--repeat", "3")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # failed every time, and never changed
    assert "Repeated 3 times" in proc.stdout
    assert "no verdict changed across the runs" in proc.stdout


# --- one bug, one behaviour: when a behaviour is graded again with the cause neutralised ------------------
SPEC = Spec(title="t", entry="server.py", kind="server", behaviours=[
    Behaviour(id="concurrent_clients", check="concurrent_clients"),
    Behaviour(id="graceful_disconnect", check="graceful_disconnect")])
STUCK = Attempt(ctx=None, failure=BehaviourFailed("leaver got no reply", reason="no_reply"), accepted_blocking=True)


def test_a_failure_stuck_on_a_blocking_accepted_socket_is_regraded():
    assert should_regrade(SPEC, SPEC.behaviours[1], STUCK)


def test_the_behaviour_that_judges_the_cause_keeps_its_failure():
    assert not should_regrade(SPEC, SPEC.behaviours[0], STUCK)


def test_no_regrade_without_the_cause_or_a_behaviour_that_judges_it():
    other = Attempt(ctx=None, failure=STUCK.failure, accepted_blocking=False)
    assert not should_regrade(SPEC, SPEC.behaviours[1], other)
    alone = SPEC.model_copy(update={"behaviours": SPEC.behaviours[1:]})
    assert not should_regrade(alone, alone.behaviours[0], STUCK)


def test_the_strict_sum_is_an_option():
    strict = SPEC.model_copy(update={"options": Options(regrade_with_cause_neutralised=False)})
    assert not should_regrade(strict, strict.behaviours[1], STUCK)
    emulated = with_windows_accept(SPEC)
    assert emulated.options.windows_accept_inherits_nonblocking
    assert not should_regrade(emulated, emulated.behaviours[1], STUCK)
