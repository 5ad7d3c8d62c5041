"""Proof that a tier works here, end to end, before anything is graded in it.

A tier that starts is not yet a tier that grades: in a container (root without CAP_SYS_PTRACE /
CAP_SYS_ADMIN) a sandbox starts fine, but its sockets cannot be found or reached, and every behaviour
would fail. So a tiny trusted server is started in the tier; the tier is chosen only if, from the grader's
side, its listening socket was found in a snapshot, a client made by `run.socket()` got its echo, its fds
and CPU were read, and its teardown left nothing behind.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from grader.i18n import _
from grader.sandbox.tiers.base import container_hint
from grader.sandbox.types import Launch, Limits

if TYPE_CHECKING:
    from grader.sandbox.tiers.base import Tier
    from grader.sandbox.types import RunView

# Trusted code: the grader's own, not a submission. Binds an ephemeral port (no collision in tier C).
PROBE_SERVER = """\
import socket
try:
    import gevent  # the tiers must see the venv's packages too
except ImportError:
    pass
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(4)
while True:
    c, _ = s.accept()
    data = c.recv(64)
    c.sendall(data)
    c.close()
"""
PAYLOAD = b"grader-probe"


def prove(tier: Tier, timeout: float = 15.0) -> str | None:
    """None if a trusted server in `tier` was started, observed and reached; else why not, in words."""
    if tier.observes_with_psutil and tier.own_network:
        return _("psutil sees socket states only in the grader's own network namespace")
    with tempfile.TemporaryDirectory(prefix="grader-probe-") as tmp:
        Path(tmp).chmod(0o755)
        Path(tmp, "probe.py").write_text(PROBE_SERVER)
        Path(tmp, "probe.py").chmod(0o644)
        try:
            run = tier.start(Launch(Path(tmp), "probe.py", limits=Limits(wall_seconds=timeout + 5)))
        except Exception as exc:  # noqa: BLE001 - any failure to start means: not this tier
            return _("starting a trial sandbox failed: {error}").format(error=exc)
        try:
            return _observe_and_reach(run, timeout)
        finally:
            teardown = run.stop()
            if not teardown.clean:
                return _("the trial sandbox left processes alive: {survivors}").format(  # noqa: B012
                    survivors=teardown.survivors)


def _observe_and_reach(run: RunView, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    port = None
    while port is None:
        try:
            snap = run.snapshot()
        except Exception as exc:  # noqa: BLE001 - an observer that cannot start or answer
            return _("cannot observe the run: {error}").format(error=exc) + container_hint()
        if snap.sockets is None:
            return _("cannot read the fds of the run's uid through {observer}").format(
                observer=run.observer_name) + container_hint()
        port = next((s.local[1] for s in snap.in_state("LISTEN")), None)
        if port is not None:
            break
        if not run.alive() and run.exit_code is not None:
            err = run.stderr.text().strip().splitlines()
            return _("the trial server exited: {why}").format(
                why=err[-1] if err else _("exit code {code}").format(code=run.exit_code))
        if time.monotonic() > deadline:
            return _("the trial server's listening socket was never seen within {seconds} s").format(
                seconds=f"{timeout:.0f}")
        time.sleep(0.02)
    try:
        with run.socket() as c:
            c.settimeout(5)
            c.connect(("127.0.0.1", port))
            c.sendall(PAYLOAD)
            got = c.recv(64)
    except OSError as exc:
        return _("cannot reach the run's network: {error}").format(error=exc) + container_hint()
    if got != PAYLOAD:
        return _("the trial server's echo did not come back (got {got})").format(got=repr(got))
    snap = run.snapshot()
    if snap.main is None or snap.fd_count() is None:
        return _("cannot read the run's fds") + container_hint()
    return None
