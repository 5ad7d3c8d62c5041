"""A run's network namespace has a TCP hash table of its own (launch.py own_tcp_hash), in every tier that
makes one, and the host's setting is left as it was.

Why it matters: every snapshot reads the run's /proc/PID/net/tcp{,6}, and the kernel walks the whole hash
table the namespace uses. Sharing the host's (262,144 buckets on a 24 GiB machine) cost 4.5 ms of the
grader's CPU per file, ~9 ms per snapshot: about half of a behaviour's grader CPU (benchmarks/README.md).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from grader.sandbox import Launch, Limits, choose_sandbox
from grader.sandbox.host import TCP_HASH
from tests.conftest import needs_root

SYSCTL = Path("/proc/sys/net/ipv4/tcp_child_ehash_entries")
pytestmark = pytest.mark.skipif(not SYSCTL.exists(), reason="Linux < 6.1: no per-namespace TCP hash tables")

# what the run's own namespace says of its table (negative: it shares the host's)
PRINT_OWN = 'print(open("/proc/sys/net/ipv4/tcp_ehash_entries").read().strip())\n'


def _own_table_size(tier: str) -> str:
    try:
        sandbox = choose_sandbox(tier, announce=False)
    except Exception as exc:  # noqa: BLE001 - a tier this machine lacks
        pytest.skip(f"{tier}: {exc}")
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 - the run's uid reads it
        (Path(tmp) / "main.py").write_text(PRINT_OWN)
        run = sandbox.start(Launch(Path(tmp), "main.py", None, Limits()))
        try:
            assert run.wait(timeout=30) == 0, run.stderr.text()
            return run.stdout.text().strip()
        finally:
            run.stop()


@pytest.mark.slow
@needs_root
@pytest.mark.parametrize("tier", ["bwrap", "netns", "userns"])
def test_the_runs_network_namespace_has_its_own_small_tcp_hash_table(tier):
    host_before = SYSCTL.read_text()
    assert _own_table_size(tier) == str(TCP_HASH)
    assert SYSCTL.read_text() == host_before  # written only in namespaces of the run's own
