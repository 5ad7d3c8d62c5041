"""Spec options, proven both ways on the program that needs them."""

from __future__ import annotations

import pytest

from grader.session.runner import SessionOptions, grade
from grader.spec import load_spec
from tests.conftest import COURSE, PROGRAMS, REPO, needs_root


@pytest.mark.slow
@needs_root
@pytest.mark.parametrize("windows", [False, True])
def test_windows_accept_emulation(tmp_path, windows):
    """Lesson-style server that forgets conn.setblocking(False): frozen on Linux, fine 'on Windows'."""
    text = (REPO / "assignments/nonblocking_server/assignment.yaml").read_text()
    text = text.replace("windows_accept_inherits_nonblocking: false",
                        f"windows_accept_inherits_nonblocking: {str(windows).lower()}")
    path = tmp_path / "nonblocking_server" / "assignment.yaml"
    path.parent.mkdir()
    path.write_text(text)
    spec = load_spec(path)
    assert spec.options.windows_accept_inherits_nonblocking is windows
    result = grade(spec, PROGRAMS / "nonblocking_server" / "blocking_accepted", COURSE,
                   SessionOptions(only=("concurrent_clients", "uses_nonblocking")))
    verdicts = {b.id: b.passed for b in result.behaviours}
    assert verdicts == {"concurrent_clients": windows, "uses_nonblocking": windows}
    if not windows:
        text = " ".join(b.diagnosis + b.observed for b in result.behaviours)
        assert "on Windows it inherits nonblocking mode" in text or "on Windows it does" in text
