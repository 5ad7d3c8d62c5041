"""Intake attacks graded end to end by the real grader (issue 9): links out of the submission, special files,
too many files, an output flood, the two static-check frauds, and a batch where students link into each
other's folders and into reference/. Each with its asserted outcome: mark gained none, nothing outside the
run read, no scratch left, the grader's memory bounded.

Everything that could write (a /dev/zero link, 100,000 files, the copies) happens with the scratch folder on
a size-capped tmpfs, so a regression fills 256 MiB of RAM, never the disk: that needs root (mount).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.session.runner import SessionOptions, grade
from grader.spec import load_spec
from tests.conftest import COURSE, REPO, by_id, spec_of

pytestmark = pytest.mark.slow

HOSTILE = REPO / "tests" / "hostile"
SPEC = load_spec(HOSTILE / "assignment.yaml")
GOOD = HOSTILE / "good" / "server.py"
SECRET_VAR = "GRADER_INTAKE_TEST_SECRET"  # noqa: S105 - a fake secret, planted to be looked for
SECRET = "s3cr3t-intake-marker-4711"  # noqa: S105
OUTSIDE = "`{}` is a symbolic link to a path outside your submission; submit regular files only"


@pytest.fixture
def scratch(monkeypatch: pytest.MonkeyPatch):
    """A 256 MiB tmpfs as the scratch folder and TMPDIR of the grader and its sessions (they inherit env).
    Not under tmp_path: pytest makes that 0700, and the runs' unprivileged uids must reach their copies."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-capped tmpfs for the attacks that write needs root")
    cap = Path(tempfile.mkdtemp(prefix="grader-intake-test-"))
    cap.chmod(0o755)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m,mode=755", "tmpfs", str(cap)], check=True)
    try:
        (cap / "scratch").mkdir()
        monkeypatch.setenv("GRADER_SCRATCH", str(cap / "scratch"))
        monkeypatch.setenv("TMPDIR", str(cap / "scratch"))
        monkeypatch.setenv(SECRET_VAR, SECRET)
        yield cap
    finally:
        subprocess.run(["umount", "-l", str(cap)], check=False)
        cap.rmdir()


def leftovers(cap: Path) -> list[str]:
    return sorted(p.name for p in (cap / "scratch").iterdir() if p.name.startswith(("grader-run-", "grader-intake-")))


def everything_shown(result) -> str:
    return json.dumps(result.model_dump(mode="json"))


# A correct server that first prints whatever its folder holds: had a link been followed, the target's
# contents (the grader's environment, a root-only file) would be in the results.
READER = ("import os\nfor n in sorted(os.listdir('.'))[:20]:\n    try:\n        print(n, open(n, 'rb').read(4000))\n"
          "    except OSError as e:\n        print(n, e)\n")


def submission(cap: Path, name: str) -> Path:
    sub = cap / "subs" / name
    sub.mkdir(parents=True)
    (sub / "server.py").write_text(READER + GOOD.read_text())
    return sub


def root_only_file(cap: Path) -> Path:
    secret = cap / "root-only" / "secret.txt"
    secret.parent.mkdir(mode=0o700)
    secret.write_text(SECRET)
    secret.chmod(0o600)
    return secret


def make_attack(cap: Path, attack: str) -> tuple[Path, str]:
    """(the submission folder, the summary every behaviour must fail with)."""
    sub = submission(cap, attack)
    if attack == "environ_link":
        (sub / "env").symlink_to("/proc/self/environ")
        return sub, OUTSIDE.format("env")
    if attack == "root_only_link":
        (sub / "notes.txt").symlink_to(root_only_file(cap))
        return sub, OUTSIDE.format("notes.txt")
    if attack == "reference_link":
        (sub / "server.py").unlink()
        (sub / "server.py").symlink_to(COURSE.reference_path / "select_server" / "server.py")
        return sub, OUTSIDE.format("server.py")
    if attack == "dev_zero_link":
        (sub / "blob").symlink_to("/dev/zero")
        return sub, OUTSIDE.format("blob")
    if attack == "entry_dev_zero":
        (sub / "server.py").unlink()
        (sub / "server.py").symlink_to("/dev/zero")
        return sub, OUTSIDE.format("server.py")
    if attack == "entry_fifo":
        (sub / "server.py").unlink()
        os.mkfifo(sub / "server.py")
        return sub, "`server.py` is a FIFO (named pipe); submit regular files only"
    if attack == "extra_fifo":
        os.mkfifo(sub / "pipe")
        return sub, "`pipe` is a FIFO (named pipe); submit regular files only"
    if attack == "many_files":
        data = sub / "data"
        data.mkdir()
        for i in range(100_000):
            (data / f"{i:06d}.txt").touch()
        return sub, "is one file too many: a submission may hold at most 2,000 files and folders"
    raise AssertionError(attack)


ATTACKS = ["environ_link", "root_only_link", "reference_link", "dev_zero_link", "entry_dev_zero", "entry_fifo",
           "extra_fifo", "many_files"]


@pytest.mark.parametrize("attack", ATTACKS)
def test_intake_attack_is_rejected_with_one_reason_and_leaves_nothing(scratch: Path, attack: str):
    sub, summary = make_attack(scratch, attack)
    result = grade(SPEC, sub, COURSE, SessionOptions())
    assert result.score == 0
    for b in result.behaviours:
        assert (b.status, b.reason) == ("failed", "submission_rejected"), b.id
        assert b.summary == summary or (b.summary.startswith("`data/") and b.summary.endswith(summary)), b.summary
        assert not b.transcript  # nothing was started
    shown = everything_shown(result)
    assert SECRET not in shown
    assert "GRADER_RESULTS_TOKEN" not in shown  # before: /proc/self/environ was copied as the session's own
    assert str(scratch) not in shown.replace(str(sub), "")  # no host path but the student's own folder
    assert leftovers(scratch) == []


def test_a_good_submission_on_the_same_tmpfs_passes(scratch: Path):
    result = grade(SPEC, submission(scratch, "good"), COURSE, SessionOptions())
    assert result.score == result.max_score
    assert leftovers(scratch) == []


def test_output_flood_of_long_undecodable_lines_keeps_the_grader_small(scratch: Path):
    """60 MiB as 128 KiB lines of \\xff at start of every run: before, the session grew to ~1 GB on
    select_server (8 runs); the whole `grader check` tree must stay well under that."""
    sub = scratch / "subs" / "flood"
    sub.mkdir(parents=True)
    shutil.copy(HOSTILE / "flood_long_lines" / "server.py", sub / "server.py")
    proc = subprocess.Popen([sys.executable, "-m", "grader.cli", "check", str(HOSTILE / "assignment.yaml"), str(sub),
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # ru_maxrss: the largest process of the tree (the session)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    result = json.loads(out)
    assert [(b["id"], b["status"]) for b in result["behaviours"]] == [("small", "passed"), ("big", "passed")]
    assert all(b["evidence"]["stdout_bytes"] == 480 << 17 for b in result["behaviours"])
    assert usage.ru_maxrss < 150 * 1024, f"grader peak RSS {usage.ru_maxrss // 1024} MiB"
    assert leftovers(scratch) == []


@pytest.mark.parametrize(("attack", "summary"), [
    ("fraud_hidden_select", "the program called `select.select()` at run time (server.py:17)"),
    # its records go nowhere, but the kernel's filter needs no channel (issue 18)
    ("fraud_silenced_observer", "the program made a select/poll/epoll system call, and the kernel stopped it")])
def test_hidden_select_import_fails_uses_nonblocking_by_runtime_evidence(attack: str, summary: str):
    result = grade(spec_of("nonblocking_server"), HOSTILE / attack, COURSE, SessionOptions(only=("uses_nonblocking",)))
    b = by_id(result)["uses_nonblocking"]
    assert b.status == "failed"
    assert b.summary.startswith(summary)


def test_gevent_spawn_in_dead_code_fails_uses_gevent_by_runtime_evidence():
    result = grade(spec_of("gevent_join"), HOSTILE / "fraud_dead_spawn", COURSE, SessionOptions(only=("uses_gevent",)))
    b = by_id(result)["uses_gevent"]
    assert b.status == "failed"
    assert b.summary == "no work ran in greenlets at run time: 0 greenlet(s) ran"


def test_batch_students_linking_into_each_other_and_reference_are_graded_on_their_own_files(scratch: Path):
    subs = scratch / "class"
    alice = subs / "alice" / "select_server"
    alice.mkdir(parents=True)
    shutil.copy(COURSE.reference_path / "select_server" / "server.py", alice / "server.py")
    (alice / "notes.txt").write_text(f"alice's private notes {SECRET}\n")
    bob = subs / "bob" / "select_server"
    bob.mkdir(parents=True)
    (bob / "server.py").symlink_to("../../alice/select_server/server.py")
    (bob / "peek").symlink_to("../../alice/select_server")
    carol = subs / "carol" / "select_server"
    carol.mkdir(parents=True)
    (carol / "server.py").symlink_to(COURSE.reference_path / "select_server" / "server.py")
    out = scratch / "out"
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "grade", str(subs), "--assignment", "select_server",
                           "--out", str(out), "--progress", "none", "-q"], capture_output=True, text=True, cwd=REPO,
                          check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scores = {row.split(",")[0]: row.split(",")[2] for row in (out / "grades.csv").read_text().splitlines()[1:]}
    assert float(scores["alice"]) == spec_of("select_server").max_score
    assert float(scores["bob"]) == 0
    assert float(scores["carol"]) == 0
    bob = json.loads((out / "bob" / "select_server" / "results.json").read_text())
    assert all(OUTSIDE.format("peek") in t["output"] for t in bob["tests"]), bob["tests"]
    for student in ("bob", "carol"):
        for name in ("feedback.md", "results.json"):
            text = (out / student / "select_server" / name).read_text()
            assert SECRET not in text
            assert "alice" not in text
    assert leftovers(scratch) == []
