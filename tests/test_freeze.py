"""grader.sandbox.freeze: a run is held still during the block and always runs again afterwards."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from grader.sandbox.freeze import Frozen, frozen


class PlainRun:
    """A run without a cgroup: freezing falls back to SIGSTOP of its processes."""

    cgroup = None

    def __init__(self, popen: subprocess.Popen) -> None:
        self._proc = psutil.Process(popen.pid)

    def processes(self) -> list[psutil.Process]:
        return [self._proc]


@pytest.fixture
def sleeper():
    popen = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    yield popen
    popen.kill()
    popen.wait()


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0]


def test_sigstop_holds_the_run_and_thaws_it(sleeper):
    run = PlainRun(sleeper)
    with frozen(run) as how:
        assert how == "SIGSTOP"
        assert _state(sleeper.pid) == "T"
    deadline = time.monotonic() + 2
    while _state(sleeper.pid) == "T" and time.monotonic() < deadline:
        time.sleep(0.001)
    assert _state(sleeper.pid) != "T"


def test_thaws_when_the_block_raises(sleeper):
    run = PlainRun(sleeper)
    with pytest.raises(RuntimeError), frozen(run):
        raise RuntimeError("boom")
    deadline = time.monotonic() + 2
    while _state(sleeper.pid) == "T" and time.monotonic() < deadline:
        time.sleep(0.001)
    assert _state(sleeper.pid) != "T"


def test_a_process_it_may_not_signal_is_reported(monkeypatch):
    def refuse(pid, sig):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("grader.sandbox.freeze.os.kill", refuse)

    class Other:
        cgroup = None

        def processes(self):
            return [psutil.Process()]

    with pytest.raises(Frozen, match="may not signal"), frozen(Other()):
        pass
