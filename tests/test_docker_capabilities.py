"""Where graders really run, simulated on this machine (slow: they grade real programs).

* Docker's default capability set (Gradescope runs every autograder so): root without CAP_SYS_ADMIN,
  CAP_SYS_PTRACE, CAP_NET_ADMIN... The interpreter is made reachable for unprivileged uids first (the
  launcher's --expose, a private mount namespace), as a container image's /usr/bin/python3 is; then capsh
  drops every capability Docker does not give, and the grader runs.
* A runner where user namespaces are denied (Ubuntu >= 23.10's AppArmor, a seccomp profile): the grader
  runs as nobody under a seccomp filter that refuses CLONE_NEWUSER (tests/deny_userns.py).

The real container rig (podman, the Gradescope zip) lives in benchmarks/container/.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.results import SubmissionResult
from tests.conftest import PROGRAMS, REPO

LAUNCHER = REPO / "grader" / "sandbox" / "standalone" / "launch.py"
DOCKER_KEEPS = {"chown", "dac_override", "fsetid", "fowner", "mknod", "net_raw", "setgid", "setuid", "setfcap",
                "setpcap", "net_bind_service", "sys_chroot", "kill", "audit_write"}

# Grades (assignment, folder, behaviours) in parallel inside the simulated environment; prints JSON results.
GRADE_SCRIPT = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from grader.session.runner import SessionOptions, grade
from grader.sandbox import choose_sandbox
from grader.spec import load_course, load_spec
course = load_course(Path(sys.argv[1]))
cases = json.loads(sys.argv[2])
tier = choose_sandbox()  # once, as a command does (it says once why not tier A), then passed to every run
shared = tier.shares_host_port  # one real port: one server at a time
def one(case):
    assignment, folder, only = case
    spec = load_spec(course.assignments_path / assignment / "assignment.yaml")
    opts = SessionOptions(only=tuple(only), jobs=1 if shared else 0, tier=tier)
    return grade(spec, Path(folder), course, opts).model_dump(mode="json")
with ThreadPoolExecutor(1 if shared else len(cases)) as pool:
    print(json.dumps(list(pool.map(one, cases))))
"""

CASES = [  # what each must fail under any tier (tests/programs/select_server/manifest.yaml)
    ("select_server", str(REPO / "reference" / "select_server"), []),
    ("select_server", str(PROGRAMS / "select_server" / "blocking_recv_after_accept"),
     ["echo", "concurrent_clients", "single_thread"]),
    ("select_server", str(PROGRAMS / "select_server" / "close_without_parens"), ["no_leaks", "idle_cpu"]),
]


def _all_caps() -> list[str]:
    out = subprocess.run(["capsh", "--print"], capture_output=True, text=True, check=True).stdout
    bounding = next(ln for ln in out.splitlines() if ln.startswith("Bounding set ="))
    return bounding.split("=", 1)[1].strip().split(",")


def _needs(*tools: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (to simulate a container's root, or to become nobody)")
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def _expose() -> list[str]:
    from grader.sandbox.host import python_paths

    return [arg for p in python_paths() for arg in ("--expose", p)]


def _grade_in(prefix: list[str], env: dict[str, str], cases: list) -> tuple[list[SubmissionResult], str]:
    cmd = [*prefix, sys.executable, "-c", GRADE_SCRIPT, str(REPO / "grader.yaml"), json.dumps(cases)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=REPO, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [SubmissionResult.model_validate(r) for r in json.loads(proc.stdout)], proc.stderr


def _verdicts(results: list[SubmissionResult]) -> list[set[str]]:
    return [{b.id for b in r.behaviours if b.status == "failed"} for r in results]


@pytest.mark.slow
def test_docker_capability_set_grades_like_tier_a():
    _needs("capsh")
    drop = [c for c in _all_caps() if c.removeprefix("cap_") not in DOCKER_KEEPS]
    assert "cap_sys_ptrace" in drop
    assert "cap_sys_admin" in drop
    prefix = [sys.executable, "-I", "-S", str(LAUNCHER), *_expose(), "--exec", "--",
              shutil.which("capsh"), f"--drop={','.join(drop)}", "--", "-c", 'exec "$0" "$@"']
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}  # noqa: S108
    results, stderr = _grade_in(prefix, env, CASES)
    reference = results[0]
    assert reference.tier in ("bwrap (tier A)", "netns (tier B)", "userns (tier B)"), reference.tier
    assert reference.score == reference.max_score == 15, [(b.id, b.summary) for b in reference.behaviours]
    assert "CAP_SYS_ADMIN" in reference.tier_note  # why tier A was not used, in words
    assert _verdicts(results[1:]) == [{"concurrent_clients"}, {"no_leaks"}]
    stuck = next(b for b in results[1].behaviours if b.id == "concurrent_clients")
    assert "blocked in recvfrom()" in stuck.diagnosis  # the syscall is observed too, without CAP_SYS_PTRACE
    leak = next(b for b in results[2].behaviours if b.id == "no_leaks")
    assert "CLOSE_WAIT" in leak.summary
    assert stderr.count("not tier A because") == 1


@pytest.mark.slow
def test_user_namespaces_denied_grades_in_tier_c_as_nobody():
    _needs("setpriv")
    if platform.machine() != "x86_64":
        pytest.skip("the seccomp filter is written for x86_64")
    import pwd

    nobody = pwd.getpwnam("nobody")
    home = Path(tempfile.mkdtemp(prefix="grader-nouserns-"))
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    try:
        prefix = [sys.executable, "-I", "-S", str(LAUNCHER), *_expose(), "--exec", "--",
                  shutil.which("setpriv"), f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                  "--", sys.executable, str(REPO / "tests" / "deny_userns.py")]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "GRADER_SCRATCH": str(home),
               "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(home)}
        results, stderr = _grade_in(prefix, env, [CASES[0], CASES[2]])  # tier C grades one at a time
    finally:
        shutil.rmtree(home, ignore_errors=True)
    reference = results[0]
    assert reference.tier == "plain (tier C)"
    assert "userns (tier B): " in reference.tier_note  # detected by trying, and said
    assert reference.score == reference.max_score == 15, [(b.id, b.summary) for b in reference.behaviours]
    assert _verdicts(results[1:]) == [{"no_leaks"}]
    assert "not tier A because" in stderr


def _closed_ancestor(path: str) -> str | None:
    """The first folder above `path` that other users may not enter (no o+x), if any."""
    parts = Path(path).resolve().parts
    for i in range(2, len(parts)):
        folder = Path(*parts[:i])
        if not folder.stat().st_mode & 0o001:
            return str(folder)
    return None


@pytest.mark.slow
def test_no_tier_can_observe_stops_before_grading_with_the_real_cause():
    """Docker's capabilities with the interpreter under a folder other users cannot enter (a pyenv in /root,
    mode 700), not exposed: every tier's probe fails. One message naming the folder and the fix, exit 2, and
    no column of grader errors (issue 18)."""
    _needs("capsh")
    from grader.sandbox.host import python_paths

    closed = next((c for c in map(_closed_ancestor, python_paths()) if c), None)
    if closed is None:
        pytest.skip("the interpreter here is readable by every user: nothing to simulate")
    drop = [c for c in _all_caps() if c.removeprefix("cap_") not in DOCKER_KEEPS]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}  # noqa: S108
    proc = subprocess.run([shutil.which("capsh"), f"--drop={','.join(drop)}", "--", "-c", 'exec "$0" "$@"',
                           sys.executable, "-m", "grader.cli", "check", "select_server",
                           str(REPO / "reference" / "select_server"), "--only", "echo"],
                          capture_output=True, text=True, timeout=240, cwd=REPO, env=env, check=False)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "no isolation tier can observe" in proc.stderr
    assert f"{closed} (where the interpreter or the submission lives) is closed to other users" in proc.stderr
    assert f"Fix: {closed} is closed to other users" in proc.stderr
    assert "grader itself failed" not in proc.stdout + proc.stderr
    assert "Errno 104" not in proc.stderr  # the reset socket is not the cause any more
