"""Every check proven both ways, on real programs in real sandboxes.

tests/programs/<assignment>/manifest.yaml lists each program with the behaviours it must fail (`fails`;
empty for alternative correct solutions) and, per failed behaviour, a phrase the student-facing message
must contain (`messages`). Each program is graded once with all its behaviours.
"""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import PROGRAMS, REPO, by_id, failed_ids, grade_program, needs_root, spec_of

ASSIGNMENTS = ["gevent_join", "nonblocking_server", "select_server", "gevent_server", "threaded_server"]


def manifest_cases():
    cases = []
    for assignment in ASSIGNMENTS:
        path = PROGRAMS / assignment / "manifest.yaml"
        if not path.is_file():
            continue
        programs = (yaml.safe_load(path.read_text()) or {}).get("programs", {})
        for name, entry in sorted(programs.items()):
            cases.append(pytest.param(assignment, name, entry or {}, id=f"{assignment}/{name}"))
    return cases


CASES = manifest_cases()


def test_every_assignment_has_a_corpus():
    have = {c.values[0] for c in CASES}
    assert have == set(ASSIGNMENTS), f"assignments without a manifest: {set(ASSIGNMENTS) - have}"
    for assignment in ASSIGNMENTS:
        spec_ids = {b.id for b in spec_of(assignment).behaviours}
        failing = set()
        for c in CASES:
            if c.values[0] == assignment:
                failing |= set(c.values[2].get("fails", []))
        assert spec_ids <= failing, f"{assignment}: no mutant fails {sorted(spec_ids - failing)}"


@pytest.mark.slow
@needs_root
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_scores_full_marks(assignment):
    result = grade_program(assignment, REPO / "reference" / assignment)
    assert failed_ids(result) == set(), {b.id: b.summary for b in result.behaviours if not b.passed}
    assert result.score == result.max_score > 0


@pytest.mark.slow
@needs_root
@pytest.mark.parametrize(("assignment", "program", "entry"), CASES)
def test_program_fails_exactly_what_it_should(assignment, program, entry):
    result = grade_program(assignment, program)
    expected = set(entry.get("fails", []))
    got = failed_ids(result)
    details = {b.id: f"{b.summary} | {b.observed}" for b in result.behaviours if not b.passed}
    assert got == expected, f"{program}: failed {sorted(got)}, expected {sorted(expected)}; {details}"
    results = by_id(result)
    for bid, phrase in (entry.get("messages") or {}).items():
        r = results[bid]
        text = " ".join([r.summary, r.expected, r.observed, r.diagnosis])
        assert phrase.lower() in text.lower(), f"{program}/{bid}: {phrase!r} not in {text!r}"
    for r in result.behaviours:
        assert r.status != "error", f"harness error in {program}/{r.id}: {r.observed}"
