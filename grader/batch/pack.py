"""A folder as bytes, for a worker that shares no file system with the instructor's machine.

    data = pack(Path("submissions/alice/select_server"))    # on the instructor's machine
    unpack(data, Path(tmp) / "submission")                   # on the worker

Only regular files and directories travel; a symbolic link, FIFO, socket or device is skipped and never
followed (the submission is a folder an attacker controls: a link to /etc/shadow or /dev/zero must not be
read). Caps: 16 MiB of file contents and 2,000 entries in all; past either, PackError says which. Folders
the batch never grades (.git, __pycache__, ...: discover.IGNORED_PARTS) and *.pyc stay behind, like in
the submission's digest. unpack() checks the same rules again (names inside the folder, types, caps), so
a forged archive cannot write outside its target either.

The format is an uncompressed POSIX tar built and read member by member (never tarfile.extractall).
The sandbox's scratch copy (grader/sandbox/intake.py) applies the same rules to the same folders; the two
should become one function.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path, PurePosixPath

from grader.batch.discover import IGNORED_PARTS

MAX_BYTES = 16 << 20
MAX_ENTRIES = 2000


class PackError(ValueError):
    """The folder cannot travel: too big, too many entries, or a forged archive."""


def _skipped(name: str) -> bool:
    return name in IGNORED_PARTS or name.endswith(".pyc")


def pack(folder: Path, *, max_bytes: int = MAX_BYTES, max_entries: int = MAX_ENTRIES) -> bytes:
    buf = io.BytesIO()
    total = entries = 0
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        stack = [(folder, PurePosixPath())]
        while stack:
            here, rel = stack.pop()
            with os.scandir(here) as it:
                children = sorted(it, key=lambda e: e.name)
            for entry in children:
                if _skipped(entry.name):
                    continue
                st = entry.stat(follow_symlinks=False)
                name = rel / entry.name
                if stat.S_ISDIR(st.st_mode):
                    kind = tarfile.DIRTYPE
                    stack.append((Path(entry.path), name))
                elif stat.S_ISREG(st.st_mode):
                    kind = tarfile.REGTYPE
                else:
                    continue  # a link, FIFO, socket or device: never read
                entries += 1
                if entries > max_entries:
                    raise PackError(f"{folder}: more than {max_entries} files and folders (the cap for a submission)")
                info = tarfile.TarInfo(str(name))
                info.type, info.mtime = kind, 0
                info.mode = 0o755 if kind == tarfile.DIRTYPE or st.st_mode & 0o111 else 0o644
                if kind == tarfile.DIRTYPE:
                    tar.addfile(info)
                    continue
                try:
                    # O_NOFOLLOW: a file swapped for a link since the scan is refused, not followed
                    fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                except OSError as exc:
                    raise PackError(f"{folder}: cannot read {name}: {exc.strerror}") from None
                with os.fdopen(fd, "rb") as fh:
                    if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                        continue  # swapped for a FIFO or a device since the scan
                    data = fh.read(max_bytes - total + 1)
                total += len(data)
                if total > max_bytes:
                    raise PackError(f"{folder}: more than {max_bytes >> 20} MiB of files (the cap for a submission)")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def unpack(data: bytes, target: Path, *, max_bytes: int = MAX_BYTES, max_entries: int = MAX_ENTRIES) -> Path:
    """Recreate a packed folder as `target` (which must not exist yet); returns target."""
    target.mkdir(parents=True)
    total = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for n, info in enumerate(tar, start=1):
            if n > max_entries:
                raise PackError(f"archive has more than {max_entries} entries")
            rel = PurePosixPath(info.name)
            if rel.is_absolute() or not rel.parts or any(p in ("", ".", "..") for p in rel.parts):
                raise PackError(f"archive member {info.name!r} is not a plain relative path")
            dest = target.joinpath(*rel.parts)
            if not dest.parent.is_dir() or dest.parent.is_symlink():
                raise PackError(f"archive member {info.name!r} comes before its folder")
            if info.isdir():
                dest.mkdir(mode=0o755)
            elif info.isreg():
                total += info.size
                if total > max_bytes:
                    raise PackError(f"archive holds more than {max_bytes >> 20} MiB")
                src = tar.extractfile(info)
                assert src is not None  # a regular member always has contents
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, info.mode & 0o755 or 0o644)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(src.read())
            else:
                raise PackError(f"archive member {info.name!r} is neither a file nor a folder")
    return target
