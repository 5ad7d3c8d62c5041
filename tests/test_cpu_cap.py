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


def test_the_cap_is_a_course_default_that_zero_turns_off():
    from grader.spec import Defaults

    assert Defaults().server_cpus_once_listening > 0
    assert Defaults(server_cpus_once_listening=0).server_cpus_once_listening == 0
    assert Path(REPO / "grader.yaml").read_text().count("server_cpus_once_listening") == 1
