"""A listening server's CPU cap (grader.yaml `server_cpus_once_listening`), on real runs in tier A.

The cap is the kernel's (CFS bandwidth of the run's cgroup), so what it promises can be asserted without
timing anything: in any window a capped run cannot use more than its quota per period, however idle or busy
the machine is. That a capped spinner still fails idle_cpu, and that the references still pass every
behaviour with the cap on, is proven by the corpus (tests/test_corpus.py: the busy-polling select and
gevent servers, the nonblocking reference that spins by design).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from grader.sandbox import Launch, Limits, choose_sandbox
from grader.sandbox.cgroup import CAP_PERIOD_US
from tests.conftest import COURSE, REPO, by_id, grade_program, needs_root

SPINNER = REPO / "reference" / "nonblocking_server"  # spins by design: accept/recv in a loop, never blocks


def _tier_a():
    sandbox = choose_sandbox(announce=False)
    if not sandbox.cgroup_limits:
        pytest.skip(f"no CPU cgroups in {sandbox.tier}")
    return sandbox


def _listening(run, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if run.snapshot().in_state("LISTEN"):
            return
        time.sleep(0.02)
    pytest.fail("the spinner never listened")


@pytest.mark.slow
@needs_root
def test_a_capped_spinner_uses_at_most_its_quota_and_the_held_back_time_is_counted():
    sandbox = _tier_a()
    run = sandbox.start(Launch(SPINNER, "server.py", ("127.0.0.1", 9000), Limits()))
    try:
        _listening(run)
        assert run.cap_cpu(0.2)
        cpu0, held0, t0 = run.cpu_seconds(), run.throttled_seconds(), time.monotonic()
        time.sleep(1.0)
        cpu1, held1, t1 = run.cpu_seconds(), run.throttled_seconds(), time.monotonic()
    finally:
        run.stop()
    periods = (t1 - t0) / (CAP_PERIOD_US / 1e6) + 2  # a partial period at each end
    quota = 0.2 * CAP_PERIOD_US / 1e6
    assert cpu1 - cpu0 <= periods * quota * 1.05, f"used {cpu1 - cpu0:.3f} s in {t1 - t0:.2f} s"
    assert held1 >= held0  # a counter: what idle_cpu adds to the time the server wanted a CPU
    assert run.throttled_seconds() == 0.0  # once stopped, nothing is read from a removed group


@pytest.mark.slow
@needs_root
def test_grading_caps_a_listening_server_and_says_so():
    _tier_a()
    result = grade_program("nonblocking_server", SPINNER, only=("echo",))
    echo = by_id(result)["echo"]
    assert echo.passed, echo.observed
    cap = COURSE.defaults.server_cpus_once_listening
    assert any(f"it may use {cap:g} of a core" in e.text for e in echo.transcript), \
        [e.text for e in echo.transcript[:3]]


@pytest.mark.parametrize("cap", [0.25, 0.0])
def test_the_cap_comes_from_the_course_and_zero_turns_it_off(cap):
    """Through the fake sandbox (a run that could be capped): the course's value is what the run is held
    to, and 0 leaves it alone, with nothing said in the transcript."""
    from grader.behaviour.engine import grade_behaviour
    from grader.spec import Behaviour
    from tests.conftest import spec_of
    from tests.fakes import FakeSandbox, upper_echo

    course = COURSE.model_copy(update={"defaults": COURSE.defaults.model_copy(
        update={"server_cpus_once_listening": cap})})
    spec = spec_of("select_server")
    behaviour = Behaviour(id="echo", check="echo", params={"sizes": [5]}, points=1)
    spec = spec.model_copy(update={"behaviours": [behaviour]})
    sandbox = FakeSandbox(upper_echo, throttled=lambda: 0.0)
    result = grade_behaviour(spec, behaviour, REPO / "reference" / "select_server", course, sandbox, seed=1)
    assert result.passed, result.observed
    said = " ".join(e.text for e in result.transcript)
    if cap:
        assert sandbox.runs[0].cpu_cap == cap
        assert f"it may use {cap:g} of a core" in said
    else:
        assert sandbox.runs[0].cpu_cap is None
        assert "of a core" not in said
    assert Path(REPO / "grader.yaml").read_text().count("server_cpus_once_listening") == 1
