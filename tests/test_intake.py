"""Intake (grader/sandbox/intake.py) and bounded output capture, without a sandbox: milliseconds each.

The same attacks graded end to end through real sandboxes are in tests/test_hostile_intake.py (slow).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import stat
from pathlib import Path

import pytest

from grader.behaviour.engine import preflight
from grader.sandbox import intake
from grader.sandbox.intake import Caps, SubmissionRejected
from grader.sandbox.output import KEEP_MAX, LINES_MAX_BYTES, CappedOutput
from tests.conftest import COURSE, spec_of

SERVER = "print('hello')\n"


@pytest.fixture
def sub(tmp_path: Path) -> Path:
    d = tmp_path / "sub"
    d.mkdir()
    (d / "server.py").write_text(SERVER)
    return d


def rejected(src: Path, caps: Caps | None = None, entry: str | None = "server.py") -> SubmissionRejected:
    shutil.rmtree(src.parent / "copy", ignore_errors=True)
    with pytest.raises(SubmissionRejected) as info:
        intake.copy_tree(src, src.parent / "copy", caps, entry)
    assert info.value.reason == "submission_rejected"
    return info.value


def test_regular_tree_is_copied_and_caches_and_venvs_are_not(sub: Path):
    (sub / "pkg").mkdir()
    (sub / "pkg" / "util.py").write_text("X = 1\n")
    (sub / "run.sh").write_text("#!/bin/sh\n")
    (sub / "run.sh").chmod(0o700)
    for ignored in (".git", "__pycache__", ".venv"):
        (sub / ignored).mkdir()
        os.mkfifo(sub / ignored / "fifo")  # never looked into: no FIFO is even seen
    intake.copy_tree(sub, sub.parent / "copy", Caps(), "server.py")
    copy = sub.parent / "copy"
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*")) == \
        ["pkg", "pkg/util.py", "run.sh", "server.py"]
    assert (copy / "server.py").read_text() == SERVER
    assert stat.S_IMODE((copy / "run.sh").stat().st_mode) == 0o755  # readable by the run's uid
    assert stat.S_IMODE((copy / "server.py").stat().st_mode) == 0o644


def test_link_outside_is_refused_and_the_message_names_the_file_not_the_target(sub: Path):
    (sub / "env").symlink_to("/proc/self/environ")
    exc = rejected(sub)
    assert exc.summary == "`env` is a symbolic link to a path outside your submission; submit regular files only"
    assert "/proc" not in exc.summary + exc.observed + exc.expected


def test_link_to_a_sibling_folder_and_a_dangling_link_are_refused(sub: Path):
    (sub / "peek").symlink_to("../../alice/select_server")
    assert "outside your submission" in rejected(sub).summary
    (sub / "peek").unlink()
    (sub / "gone").symlink_to("/nonexistent/secret")
    assert rejected(sub).summary.startswith("`gone` is a symbolic link to a path outside")


def test_link_inside_is_refused_with_the_fix(sub: Path):
    (sub / "lib").mkdir()
    (sub / "lib" / "helper.py").symlink_to("../server.py")
    exc = rejected(sub)
    assert exc.summary.startswith("`lib/helper.py` is a symbolic link (to a file of your submission)")
    assert "replace the link by a copy of the file" in exc.summary


def test_entry_as_fifo_and_an_extra_fifo_are_refused_without_blocking(sub: Path):
    os.mkfifo(sub / "pipe")
    assert rejected(sub).summary == "`pipe` is a FIFO (named pipe); submit regular files only"
    (sub / "pipe").unlink()
    (sub / "server.py").unlink()
    os.mkfifo(sub / "server.py")
    assert rejected(sub).summary.startswith("`server.py` is a FIFO")


def test_unix_socket_is_refused(tmp_path: Path):
    d = tmp_path / "s"  # a short path: AF_UNIX paths are limited to ~100 bytes
    d.mkdir()
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(d / "sock"))
        assert rejected(d).summary == "`sock` is a socket; submit regular files only"


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a device needs root")
def test_device_file_is_refused(sub: Path):
    os.mknod(sub / "zero", 0o666 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero's numbers
    assert rejected(sub).summary == "`zero` is a device file; submit regular files only"


def test_caps_on_entries_total_and_entry_file(sub: Path):
    for i in range(10):
        (sub / f"f{i}.txt").write_text("x")
    assert "at most 10 files and folders" in rejected(sub, Caps(entries=10)).summary
    (sub / "big.bin").write_bytes(b"\0" * 5000)
    exc = rejected(sub, Caps(total_bytes=4096))
    assert exc.summary == "`big.bin` takes the submission past 4,096 bytes, the most a submission may hold"
    (sub / "big.bin").unlink()
    (sub / "server.py").write_text("#" * 3000)
    assert rejected(sub, Caps(entry_bytes=2048)).summary == \
        "`server.py` is larger than 2,048 bytes, the most an entry file may hold"


def test_unprintable_names_are_escaped(sub: Path):
    os.mkfifo(sub / "a\x1b[2Jb")
    assert rejected(sub).summary.startswith("`a\\x1b[2Jb` is a FIFO")


@pytest.mark.parametrize("swap", ["symlink", "fifo"])
def test_an_entry_swapped_between_lstat_and_open_is_refused_never_followed(sub: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch, swap):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    (sub / "data.txt").write_text("harmless")
    real_stat = os.stat

    def stat_then_swap(name, *args, **kw):
        st = real_stat(name, *args, **kw)
        if name == "data.txt":  # the attacker wins the race: the name changes right after lstat
            (sub / "data.txt").unlink()
            if swap == "symlink":
                (sub / "data.txt").symlink_to(secret)
            else:
                os.mkfifo(sub / "data.txt")
        return st

    monkeypatch.setattr(intake.os, "stat", stat_then_swap)
    exc = rejected(sub)
    assert exc.summary.startswith("`data.txt` changed while it was being read")
    copied = tmp_path / "copy"
    assert not any("TOP SECRET" in p.read_text() for p in copied.rglob("*") if p.is_file())


def test_validated_once_per_session_and_discarded(sub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GRADER_SCRATCH", str(tmp_path))
    first = intake.validated(sub, Caps(), "server.py")
    assert intake.validated(sub, Caps(), "server.py") == first
    assert first.parent.name.startswith("grader-intake-")
    assert (first / "server.py").read_text() == SERVER
    scratch = intake.prepare(first, readable=True)
    assert (scratch / "sub" / "server.py").read_text() == SERVER
    assert stat.S_IMODE(scratch.stat().st_mode) == 0o755
    intake.discard_all()
    assert not first.exists()


def test_a_rejection_is_the_same_for_every_behaviour_and_leaves_no_scratch(sub: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GRADER_SCRATCH", str(tmp_path))
    (sub / "blob").symlink_to("/dev/zero")
    with pytest.raises(SubmissionRejected) as one:
        intake.validated(sub, Caps(), "server.py")
    with pytest.raises(SubmissionRejected) as two:
        intake.validated(sub, Caps(), "server.py")
    assert one.value is not two.value
    assert one.value.summary == two.value.summary
    with pytest.raises(SubmissionRejected):
        intake.prepare(sub, readable=False)  # a run given the original directly is refused the same way
    assert [p.name for p in tmp_path.iterdir()] == ["sub"]  # no grader-intake-*, no grader-run-*
    intake.discard_all()


def test_read_entry_reads_a_regular_file_within_its_cap_only(sub: Path):
    assert intake.read_entry(sub, "server.py", 1 << 20) == SERVER
    assert intake.read_entry(sub, "server.py", 5) == SERVER[:5]
    (sub / "zero.py").symlink_to("/dev/zero")
    os.mkfifo(sub / "fifo.py")
    for name in ("zero.py", "fifo.py", "missing.py"):
        with pytest.raises(FileNotFoundError):
            intake.read_entry(sub, name, 1 << 20)


def test_preflight_fails_every_behaviour_with_one_reason(sub: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GRADER_SCRATCH", str(tmp_path))
    spec = spec_of("select_server")
    (sub / "server.py").unlink()
    (sub / "server.py").symlink_to(COURSE.reference_path / "select_server" / "server.py")
    failure = preflight(spec, sub, Caps())
    assert failure is not None
    assert failure.reason == "submission_rejected"
    assert failure.summary == ("`server.py` is a symbolic link to a path outside your submission; "
                               "submit regular files only")
    (sub / "server.py").unlink()
    (sub / "notes.txt").write_text("")
    intake.discard_all()  # a new session
    missing = preflight(spec, sub, Caps())
    assert missing is not None
    assert missing.reason == "missing_entry"
    assert "notes.txt" in missing.observed
    intake.discard_all()


def test_output_memory_is_bounded_in_bytes_whatever_the_line_lengths():
    flood = (b"\xff" * (128 << 10) + b"\n") * 64  # 8 MiB of 128 KiB undecodable lines
    out = CappedOutput(io.BufferedReader(io.BytesIO(flood)), cap=64 << 20)
    assert out.wait_closed(10)
    assert out.total == len(flood)
    assert len(out._head) <= KEEP_MAX
    assert len(out._tail) <= KEEP_MAX
    assert sum(len(line) for _, line in out.lines) <= LINES_MAX_BYTES
    assert out.text().count("\ufffd") <= 2 * KEEP_MAX
    assert "bytes not kept" in out.text()


def test_output_short_lines_are_all_timestamped():
    out = CappedOutput(io.BufferedReader(io.BytesIO(b"one\ntwo\nthree")), cap=1 << 20)
    assert out.wait_closed(10)
    assert [line for _, line in out.lines] == ["one", "two", "three"]


def test_an_unreadable_entry_is_the_students_problem_not_a_grader_error(sub: Path, monkeypatch: pytest.MonkeyPatch):
    real_stat = os.stat

    def denied(name, *args, **kw):
        if name == "server.py":
            raise PermissionError(13, "Permission denied")
        return real_stat(name, *args, **kw)

    monkeypatch.setattr(intake.os, "stat", denied)
    assert rejected(sub).summary == "`server.py` could not be read (Permission denied)"


def test_entry_cap_stops_listing_a_huge_folder(sub: Path):
    for i in range(50):
        (sub / f"{i:02d}.txt").touch()
    exc = rejected(sub, Caps(entries=20))
    assert exc.summary.endswith("is one file too many: a submission may hold at most 20 files and folders")


def test_batch_digest_never_reads_through_a_link(sub: Path, tmp_path: Path):
    from grader.batch.discover import submission_digest

    target = tmp_path / "elsewhere.bin"
    target.write_bytes(b"a" * 1000)
    (sub / "blob").symlink_to(target)
    before = submission_digest(sub)
    target.write_bytes(b"b" * 1000)  # had the link been followed, the digest would change
    assert submission_digest(sub) == before


def test_batch_ignores_a_submission_folder_that_is_a_link_to_another_students(tmp_path: Path):
    from grader.batch.discover import discover

    (tmp_path / "alice" / "select_server").mkdir(parents=True)
    (tmp_path / "dave").mkdir()
    (tmp_path / "dave" / "select_server").symlink_to("../alice/select_server")
    found = discover(tmp_path, "{student}/{assignment}", ["select_server"])
    assert [s.student for s in found.submissions] == ["alice"]
    assert tmp_path / "dave" / "select_server" in found.ignored
