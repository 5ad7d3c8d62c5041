"""`grader check / list / validate` end to end: exit codes, messages, results.json, isolation."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO, needs_root

GRADER = [sys.executable, "-m", "grader.cli"]


SCRATCH = Path(tempfile.mkdtemp(prefix="grader-cli-tests-"))
ENV = dict(os.environ, GRADER_SCRATCH=str(SCRATCH))  # this module's runs, told apart from any others


def grader(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*GRADER, *args], capture_output=True, text=True, cwd=cwd or REPO, timeout=timeout,
                          check=False, env=ENV)


def survivors() -> list[str]:
    """Processes of submissions graded by this module still alive. Their copies live under SCRATCH, which
    shows in the command line or cwd (plain, netns) or in the mount table (bwrap binds it)."""
    left = []
    for p in psutil.process_iter(["cmdline", "cwd"]):
        try:
            seen = " ".join(p.info["cmdline"] or []) + (p.info["cwd"] or "")
            if str(SCRATCH) not in seen:
                with open(f"/proc/{p.pid}/mountinfo") as fh:
                    seen = fh.read()
            if str(SCRATCH) in seen and p.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{p.pid} {p.info['cmdline']}")
        except (psutil.Error, OSError):
            continue
    return left


def no_survivors(grace: float = 10.0) -> list[str]:
    """survivors() still there after a grace period (a SIGKILLed process takes a moment to go)."""
    deadline = time.monotonic() + grace
    while (left := survivors()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.slow
@needs_root
def test_check_reference_exits_0_and_writes_gradescope_results(tmp_path):
    out = tmp_path / "results.json"
    proc = grader("check", "select_server", "reference/select_server", "--results", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Total: 15/15" in proc.stdout
    data = json.loads(out.read_text())
    ids = [t["name"].split(":")[0] for t in data["tests"]]
    assert ids == ["echo", "concurrent_clients", "graceful_disconnect", "abrupt_disconnect", "no_leaks",
                   "idle_cpu", "single_thread", "uses_select"]
    assert all(t["status"] == "passed" and t["score"] == t["max_score"] for t in data["tests"])
    assert isinstance(data["execution_time"], int)
    assert {t["visibility"] for t in data["tests"]} == {"visible"}


@pytest.mark.slow
@needs_root
def test_check_mutant_exits_1_and_explains(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "server.py").write_text(textwrap.dedent("""\
        import socket
        sk = socket.socket()
        sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sk.bind(('127.0.0.1', 9000)); sk.listen(64); sk.setblocking(False)
        conns = []
        while True:
            try:
                c, _ = sk.accept(); conns.append(c)   # c stays blocking on Linux
            except BlockingIOError:
                pass
            for c in conns:
                d = c.recv(1024)
                if d:
                    c.send(d.upper())
        """))
    proc = grader("check", "nonblocking_server", str(sub), "--only", "concurrent_clients")
    assert proc.returncode == 1
    assert "FAIL  concurrent_clients" in proc.stdout
    assert "blocked in recvfrom() on a connection socket" in proc.stdout
    assert "conn.setblocking(False)" in proc.stdout
    assert "rerun just this: grader check nonblocking_server" in proc.stdout
    assert "--only concurrent_clients --seed" in proc.stdout


def test_missing_entry_fails_every_behaviour_with_a_reason(tmp_path):
    (tmp_path / "README.txt").write_text("forgot the code")
    proc = grader("check", "select_server", str(tmp_path), "--only", "echo,uses_select")
    assert proc.returncode == 1
    assert proc.stdout.count("server.py is missing") >= 2
    assert "files present: README.txt" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_syntax_error_is_a_failed_behaviour_not_a_traceback(tmp_path):
    (tmp_path / "server.py").write_text("import socket\nwhile True\n    pass\n")
    proc = grader("check", "select_server", str(tmp_path), "--only", "echo,uses_select")
    assert proc.returncode == 1
    assert "server.py does not parse" in proc.stdout
    assert "SyntaxError at line 2" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_usage_errors_exit_2_with_a_fix(tmp_path):
    proc = grader("check", "select_sever", ".")
    assert proc.returncode == 2
    assert "did you mean 'select_server'?" in proc.stderr
    proc = grader("check", "select_server", str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr
    proc = grader("check", "select_server", ".", "--only", "ecco")
    assert proc.returncode == 2
    assert "unknown behaviour(s) ecco" in proc.stderr


def test_list_shows_assignments_and_behaviours():
    proc = grader("list")
    assert proc.returncode == 0
    for name in ("gevent_join", "nonblocking_server", "select_server", "gevent_server", "threaded_server"):
        assert f"{name}:" in proc.stdout
    assert "uses_select" in proc.stdout
    assert "idle_cpu" in proc.stdout


@pytest.mark.slow
@needs_root
def test_two_checks_on_port_9000_at_once_do_not_touch_each_other():
    """Both servers hard-code 127.0.0.1:9000; each run has its own network namespace."""
    cmd = [*GRADER, "check", "select_server", "reference/select_server", "--only", "echo,concurrent_clients"]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
             for _ in range(2)]
    seen_running = False
    while any(p.poll() is None for p in procs):
        seen_running = seen_running or bool(survivors())  # proves survivors() sees live runs
        time.sleep(0.05)
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, out + err
        assert "Total: 5/5" in out
    assert seen_running, "survivors() never saw the runs while they were alive: it cannot detect leftovers"
    assert no_survivors() == []


@pytest.mark.slow
def test_plain_tier_grades_and_says_when_the_port_is_taken(tmp_path):
    with socket.socket() as s:  # a free port for this test's own spec
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = (REPO / "assignments" / "select_server" / "assignment.yaml").read_text()
    adir = tmp_path / "assignments" / "echo_elsewhere"
    adir.mkdir(parents=True)
    (adir / "assignment.yaml").write_text(spec.replace("address: 127.0.0.1:9000", f"address: 127.0.0.1:{port}"))
    (tmp_path / "grader.yaml").write_text("assignments_dir: assignments\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "server.py").write_text((REPO / "reference/select_server/server.py").read_text()
                                   .replace("9000", str(port)))
    course = ["--course", str(tmp_path / "grader.yaml")]
    proc = grader(*course, "check", "echo_elsewhere", str(sub), "--sandbox", "plain", "--only", "echo,idle_cpu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "isolation: plain" in proc.stdout
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        proc = grader(*course, "check", "echo_elsewhere", str(sub), "--sandbox", "plain", "--only", "echo")
    assert proc.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr
    assert no_survivors() == []
