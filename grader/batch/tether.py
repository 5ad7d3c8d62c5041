"""pytest plugin for a grading session started by a batch: the session ends when the batch dies.

Batch sessions run in their own process group, so the terminal's Ctrl-C reaches only the batch (which then
lets the runs in flight finish and journals them). If the batch itself is killed (SIGKILL, a crash), this
plugin notices that its parent is gone, interrupts the session (pytest tears the sandboxes down as on
Ctrl-C) and, should teardown hang, ends the process; the sandboxes' launchers die with it. Nothing of an
orphaned session is ever journalled: the restarted batch grades that submission again.

Loaded by the runner with `-p grader.batch.tether` when SessionOptions.detached is set; the parent's pid
arrives in GRADER_TETHER_PID.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

ENV = "GRADER_TETHER_PID"
POLL = 0.25  # seconds between looks at the parent
GRACE = 8.0  # seconds teardown may take after the interrupt before the process ends itself


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(GRACE)
    os._exit(3)


def pytest_configure(config: pytest.Config) -> None:
    parent = os.environ.get(ENV, "")
    if parent.isdigit():
        threading.Thread(target=_watch, args=(int(parent),), name="tether", daemon=True).start()
