"""Every check proven both ways, on real programs in real sandboxes.

tests/programs/<assignment>/manifest.yaml lists each program with the behaviours it must fail (`fails`;
empty for alternative correct solutions) and, per failed behaviour, a phrase the student-facing message
must contain (`messages`). Each program is graded once with all its behaviours.

The corpus is most of the suite's time, so the selected programs are graded a few at once
(GRADER_CORPUS_AT_ONCE, default 3; 1 grades them one after another). Verdicts do not depend on that:
benchmarks/flips.py found 0 changes over the corpus between one run at a time, six at once, and six at once
beside a CPU hog on every core.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor

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
AT_ONCE = max(1, int(os.environ.get("GRADER_CORPUS_AT_ONCE", "3")))
GRADED_HERE = ("test_reference_scores_full_marks", "test_program_fails_exactly_what_it_should")


@pytest.fixture(scope="session")
def corpus(request: pytest.FixtureRequest):
    """(assignment, program or None for the reference) -> the Future of its grading, for every corpus test
    the session selected, all submitted at once to a small pool (in the tests' order)."""
    pool = ThreadPoolExecutor(max_workers=AT_ONCE, thread_name_prefix="corpus")
    futures: dict[tuple[str, str | None], Future] = {}
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if getattr(item, "originalname", "") not in GRADED_HERE or "assignment" not in params:
            continue
        key = (params["assignment"], params.get("program"))
        if key not in futures:
            folder = REPO / "reference" / key[0] if key[1] is None else key[1]
            futures[key] = pool.submit(grade_program, key[0], folder)
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


def graded(corpus, assignment: str, program: str | None = None):
    future = corpus.get((assignment, program))
    if future is None:  # not known at collection (cannot happen through pytest; kept for direct calls)
        return grade_program(assignment, REPO / "reference" / assignment if program is None else program)
    return future.result()


def diagnosis(result, got: set[str], expected: set[str]) -> str:
    """What a wrong verdict needs to be understood from a CI log alone: the tier, the load, and the
    transcript and output tails of the first behaviour that went the wrong way."""
    wrong = [b for b in result.behaviours if (b.id in got) != (b.id in expected)]
    lines = [f"tier {result.tier}; run took {result.duration:.1f} s; load average {os.getloadavg()[0]:.1f}"]
    for b in wrong[:1]:
        lines.append(f"-- {b.id} ({b.status}, {b.reason}, {b.duration:.1f} s): {b.summary} | {b.observed}")
        lines += [f"   {e.t:7.2f} {e.actor}: {e.text[:200]}" for e in b.transcript[-25:]]
        if b.stderr_tail:
            lines.append("   stderr: " + b.stderr_tail[-800:].replace("\n", "\n   "))
    return "\n".join(lines)


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
def test_reference_scores_full_marks(corpus, assignment):
    result = graded(corpus, assignment)
    assert failed_ids(result) == set(), diagnosis(result, failed_ids(result), set())
    assert result.score == result.max_score > 0


@pytest.mark.slow
@needs_root
@pytest.mark.parametrize(("assignment", "program", "entry"), CASES)
def test_program_fails_exactly_what_it_should(corpus, assignment, program, entry):
    result = graded(corpus, assignment, program)
    expected = set(entry.get("fails", []))
    got = failed_ids(result)
    details = {b.id: f"{b.summary} | {b.observed}" for b in result.behaviours if not b.passed}
    assert got == expected, (f"{program}: failed {sorted(got)}, expected {sorted(expected)}; {details}\n"
                             f"{diagnosis(result, got, expected)}")
    results = by_id(result)
    for bid, phrase in (entry.get("messages") or {}).items():
        r = results[bid]
        text = " ".join([r.summary, r.expected, r.observed, r.diagnosis])
        assert phrase.lower() in text.lower(), f"{program}/{bid}: {phrase!r} not in {text!r}"
    for r in result.behaviours:
        assert r.status != "error", f"harness error in {program}/{r.id}: {r.observed}"
