"""Intake: the submission becomes a private copy holding only regular files and folders, within caps.

A submission folder is controlled by the student (git stores symbolic links; FIFOs and huge files are easy
to make), and the grader copies it as root. So the copy never follows a link and never opens anything but
a regular file or a folder: every entry is looked at with lstat relative to its parent's descriptor
(openat-style, `dir_fd`), opened with O_NOFOLLOW (a regular file first as O_PATH, so not even a device's
open() runs), and checked again with fstat on the descriptor that is then read: an entry swapped for a link
or a FIFO between the look and the open is refused, never followed. Reads stop at the caps, so a file that
grows while read cannot fill a disk or the grader's memory.

Every symbolic link is refused, also one pointing inside the submission (a link `a -> .` makes `a/..`
leave any folder, so "inside" is not a property one can check on the link alone); the message says to
submit a copy of the file instead. Anything refused becomes one `submission_rejected` failure, the same for
every behaviour, naming the file and the rule, and never a host path.

A session validates a submission once (`validated`): every run then copies from that copy, which is small
by construction (the caps), and the static checks read it, not the original.
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader.failure import BehaviourFailed
from grader.i18n import _

if TYPE_CHECKING:
    from grader.spec.model import Defaults

MiB = 1 << 20
IGNORED_DIRS = frozenset({"__pycache__", ".git", ".venv"})  # never copied, never looked into
IGNORED_SUFFIXES = (".pyc",)
_CHUNK = 1 << 16
_O_PATH = getattr(os, "O_PATH", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


@dataclass(frozen=True)
class Caps:
    total_bytes: int = 16 * MiB  # all regular files together
    entries: int = 2000  # files and folders (ignored ones not counted)
    entry_bytes: int = 1 * MiB  # the entry file (server.py / main.py)


class SubmissionRejected(BehaviourFailed):
    """The submission holds something the grader does not accept: every behaviour fails with this."""

    def __init__(self, name: str, rule: str, caps: Caps) -> None:
        super().__init__(
            f"`{name}` {rule}",
            expected=_("a folder of regular files and folders only (no links, FIFOs, sockets or devices), at most "
                       "{entries} of them and {total} in all, the entry file at most {entry}").format(
                entries=f"{caps.entries:,}", total=_size(caps.total_bytes), entry=_size(caps.entry_bytes)),
            observed=_("{what}; nothing was run").format(what=f"`{name}` {rule}"),
            reason="submission_rejected")
        self.name = name
        self.rule = rule
        self.caps = caps

    def again(self) -> SubmissionRejected:
        """A fresh exception for another behaviour (one exception object is never raised twice)."""
        return SubmissionRejected(self.name, self.rule, self.caps)


def caps_of(defaults: Defaults) -> Caps:
    """The caps of a course's `defaults` (grader.yaml)."""
    return Caps(defaults.submission_max_bytes, defaults.submission_max_entries, defaults.entry_max_bytes)


def _size(n: int) -> str:
    return f"{n / MiB:g} MiB" if n >= MiB else _("{n} bytes").format(n=f"{n:,}")


def shown(rel: str) -> str:
    """A path as the student may read it: relative, control characters and undecodable bytes escaped."""
    raw = os.fsencode(rel).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in raw)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return _("is a FIFO (named pipe)")
    if stat.S_ISSOCK(mode):
        return _("is a socket")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return _("is a device file")
    return _("is not a regular file")


def _link_rule(rel_dir: str, target: str) -> str:
    inside = not os.path.isabs(target) and not os.path.normpath(os.path.join(rel_dir, target)).startswith("..")
    if inside:
        return _("is a symbolic link (to a file of your submission); submit regular files only: replace the link "
                 "by a copy of the file")
    return _("is a symbolic link to a path outside your submission; submit regular files only")


class _Walk:
    def __init__(self, caps: Caps, entry: str | None) -> None:
        self.caps = caps
        self.entry = entry
        self.entries = 0
        self.total = 0

    def reject(self, rel: str, rule: str) -> SubmissionRejected:
        return SubmissionRejected(shown(rel), rule, self.caps)

    def copy_dir(self, src_fd: int, dst_fd: int, rel_dir: str, pending: list[tuple[int, int, str]]) -> None:
        names = []
        with os.scandir(src_fd) as it:  # stops listing past the cap: a million names are never all held
            for e in it:
                if e.name not in IGNORED_DIRS and not e.name.endswith(IGNORED_SUFFIXES):
                    names.append(e.name)
                    if self.entries + len(names) > self.caps.entries:
                        break
        for name in sorted(names):
            rel = os.path.join(rel_dir, name) if rel_dir else name
            self.entries += 1
            if self.entries > self.caps.entries:
                raise self.reject(rel, _("is one file too many: a submission may hold at most {n} files and "
                                         "folders").format(n=f"{self.caps.entries:,}"))
            try:
                st = os.stat(name, dir_fd=src_fd, follow_symlinks=False)
            except OSError as exc:
                raise self.reject(rel, _("could not be read ({error})").format(error=exc.strerror)) from exc
            if stat.S_ISLNK(st.st_mode):
                try:
                    target = os.readlink(name, dir_fd=src_fd)
                except OSError:
                    target = "/"
                raise self.reject(rel, _link_rule(rel_dir, target))
            if stat.S_ISDIR(st.st_mode):
                fd = self._open_checked(src_fd, name, rel, st, os.O_RDONLY | _O_DIRECTORY, stat.S_ISDIR)
                try:
                    os.mkdir(name, 0o755, dir_fd=dst_fd)
                    sub = os.open(name, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=dst_fd)
                except BaseException:
                    os.close(fd)
                    raise
                pending.append((fd, sub, rel))
            elif stat.S_ISREG(st.st_mode):
                self.copy_file(src_fd, dst_fd, name, rel, st)
            else:
                raise self.reject(rel, _("{kind}; submit regular files only").format(kind=_kind(st.st_mode)))

    def _open_checked(self, src_fd: int, name: str, rel: str, st: os.stat_result, flags: int,
                      is_kind: Callable[[int], bool]) -> int:
        """Open `name` without following a link; the descriptor must be the very entry lstat saw."""
        try:
            fd = os.open(name, flags | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=src_fd)
        except PermissionError as exc:
            raise self.reject(rel, _("could not be read ({error}); make it readable").format(
                error=exc.strerror)) from exc
        except OSError as exc:  # ELOOP: swapped for a link since lstat; ENOTDIR/ENXIO: for something else
            raise self.reject(rel, _("changed while it was being read (it is now a link or a special file); "
                                     "submit regular files only")) from exc
        got = os.fstat(fd)
        if not is_kind(got.st_mode) or (got.st_dev, got.st_ino) != (st.st_dev, st.st_ino):
            os.close(fd)
            raise self.reject(rel, _("changed while it was being read (it is now a link or a special file); "
                                     "submit regular files only"))
        return fd

    def _open_regular(self, src_fd: int, name: str, rel: str, st: os.stat_result) -> int:
        if _O_PATH and os.path.isdir("/proc/self/fd"):
            # O_PATH opens nothing (no device's open() runs, a FIFO does not block); reopening the checked
            # descriptor through /proc reaches that same inode, whatever the name points to by now.
            pfd = self._open_checked(src_fd, name, rel, st, _O_PATH, stat.S_ISREG)
            try:
                fd = os.open(f"/proc/self/fd/{pfd}", os.O_RDONLY | _O_CLOEXEC | _O_NOCTTY | _O_NONBLOCK)
            except PermissionError as exc:
                raise self.reject(rel, _("could not be read ({error}); make it readable").format(
                error=exc.strerror)) from exc
            finally:
                os.close(pfd)
            got = os.fstat(fd)
            if (got.st_dev, got.st_ino) != (st.st_dev, st.st_ino):
                os.close(fd)
                raise self.reject(rel, _("changed while it was being read; submit regular files only"))
            return fd
        return self._open_checked(src_fd, name, rel, st, os.O_RDONLY | _O_NOCTTY | _O_NONBLOCK, stat.S_ISREG)

    def copy_file(self, src_fd: int, dst_fd: int, name: str, rel: str, st: os.stat_result) -> None:
        is_entry = rel == self.entry
        room = self.caps.total_bytes - self.total
        limit = min(room, self.caps.entry_bytes) if is_entry else room
        too_big = (_("is larger than {size}, the most an entry file may hold").format(size=_size(self.caps.entry_bytes))
                   if is_entry and self.caps.entry_bytes <= room else
                   _("takes the submission past {size}, the most a submission may hold").format(
                       size=_size(self.caps.total_bytes)))
        if st.st_size > limit:
            raise self.reject(rel, too_big)
        fd = self._open_regular(src_fd, name, rel, st)
        try:
            mode = 0o755 if st.st_mode & 0o111 else 0o644
            out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, mode, dir_fd=dst_fd)
            try:
                copied = 0
                while True:  # bounded: a file that grows while read stops at the cap
                    chunk = os.read(fd, min(_CHUNK, limit - copied + 1))
                    if not chunk:
                        break
                    copied += len(chunk)
                    if copied > limit:
                        raise self.reject(rel, too_big)
                    os.write(out, chunk)
                os.fchmod(out, mode)  # whatever the umask: readable by the run's unprivileged uid
            finally:
                os.close(out)
        finally:
            os.close(fd)
        self.total += copied


def copy_tree(src: Path, dst: Path, caps: Caps | None = None, entry: str | None = None) -> None:
    """Copy the folder `src` (the caller's own path: followed) to the new folder `dst`, refusing what the module
    docstring says. Raises SubmissionRejected; `dst` may then hold a partial copy (the caller removes it)."""
    walk = _Walk(caps or Caps(), entry)
    top = os.open(src, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    os.mkdir(dst, 0o755)
    os.chmod(dst, 0o755)  # noqa: S103 - read-only for the run's uid, whatever the umask
    pending = [(top, os.open(dst, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC), "")]
    try:
        while pending:  # a stack, not recursion: thousands of nested folders must not hit the recursion limit
            src_fd, dst_fd, rel = pending.pop()
            try:
                walk.copy_dir(src_fd, dst_fd, rel, pending)
            finally:
                os.close(src_fd)
                os.close(dst_fd)
    finally:
        for src_fd, dst_fd, _rel in pending:
            os.close(src_fd)
            os.close(dst_fd)


def read_entry(folder: Path, entry: str, cap: int) -> str:
    """The text of `folder/entry` as a regular file of at most `cap` bytes (never a link, a FIFO or /dev/zero).
    FileNotFoundError if there is no such regular file."""
    try:
        fd = os.open(folder / entry, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | _O_NONBLOCK | _O_NOCTTY)
    except OSError as exc:
        raise FileNotFoundError(entry) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileNotFoundError(entry)
        data = bytearray()
        while len(data) <= cap:
            chunk = os.read(fd, min(_CHUNK, cap + 1 - len(data)))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    return bytes(data[:cap]).decode("utf-8", errors="replace")


# --- once per session --------------------------------------------------------------------------------------
_lock = threading.Lock()
_validated: dict[tuple[str, Caps, str], Path | SubmissionRejected] = {}
_copies: dict[str, Caps] = {}  # validated copy -> the caps it was validated with


def _scratch_dir() -> str | None:
    # GRADER_SCRATCH: where the validated copy and the runs' private copies go (default: the system temp dir)
    return os.environ.get("GRADER_SCRATCH") or None


def validated(submission: Path, caps: Caps, entry: str) -> Path:
    """The session's validated copy of `submission` (made on first use, removed at exit), or
    SubmissionRejected: the same verdict for every behaviour that asks."""
    key = (os.path.abspath(submission), caps, entry)
    with _lock:
        got = _validated.get(key)
        if got is None:
            home = Path(tempfile.mkdtemp(prefix="grader-intake-", dir=_scratch_dir()))
            try:
                copy_tree(submission, home / "sub", caps, entry)
                got = home / "sub"
                _copies[str(got)] = caps
            except SubmissionRejected as exc:
                got = exc
            finally:
                if not isinstance(got, Path):
                    shutil.rmtree(home, ignore_errors=True)
            _validated[key] = got
    if isinstance(got, SubmissionRejected):
        raise got.again()
    return got


def caps_of_copy(folder: Path) -> Caps | None:
    """The caps `folder` was validated with, if it is a validated copy of this session."""
    with _lock:
        return _copies.get(str(folder))


def discard_all() -> None:
    """Remove every validated copy of this session (at the end of a session, and at exit)."""
    with _lock:
        for got in _validated.values():
            if isinstance(got, Path):
                shutil.rmtree(got.parent, ignore_errors=True)
        _validated.clear()
        _copies.clear()


atexit.register(discard_all)


def prepare(src: Path, readable: bool) -> Path:
    """A run's private scratch folder with the submission copied to `scratch/sub` (the body of
    `prepare_scratch`); nothing is left behind if the copy is refused or fails."""
    scratch = Path(tempfile.mkdtemp(prefix="grader-run-", dir=_scratch_dir()))
    try:
        if readable:  # readable (not writable) by the run's unprivileged uid
            scratch.chmod(0o755)
        caps = caps_of_copy(src) or Caps()  # a validated copy passes again; anything else meets the defaults
        copy_tree(src, scratch / "sub", caps)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return scratch
