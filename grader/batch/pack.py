"""A folder as bytes, for a worker that shares no file system with the instructor's machine.

    data = pack(Path("submissions/alice/select_server"), caps)   # on the instructor's machine
    unpack(data, Path(tmp) / "submission")                        # on the worker

The folder is first taken in exactly as a run's scratch copy is (grader/sandbox/intake.py: never a link
followed, nothing but regular files and folders opened, the course's caps): what intake refuses raises
`SubmissionRejected` here too, so a cluster batch rejects the same submissions with the same message as a
local one. The validated copy is then written as an uncompressed POSIX tar. unpack() checks the rules
again (names inside the folder, types, caps) and reads member by member (never tarfile.extractall), so a
forged archive cannot write outside its target either.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from grader.sandbox.intake import Caps, copy_tree

MAX_BYTES = 16 << 20  # what unpack() accepts: intake's default caps
MAX_ENTRIES = 2000


class PackError(ValueError):
    """A forged or oversized archive."""


def pack(folder: Path, caps: Caps | None = None) -> bytes:
    """`folder` as tar bytes, taken in by intake's rules; raises SubmissionRejected for what intake refuses."""
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="grader-pack-") as tmp:
        copy = Path(tmp) / "sub"
        copy_tree(folder, copy, caps)
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for here, dirs, files in os.walk(copy):  # the validated copy: folders and regular files only
                dirs.sort()
                rel = Path(here).relative_to(copy)
                for name in [*dirs, *sorted(files)]:
                    path = Path(here) / name
                    info = tarfile.TarInfo(str(PurePosixPath(*rel.parts, name)))
                    info.mtime = 0
                    if name in dirs:
                        info.type, info.mode = tarfile.DIRTYPE, 0o755
                        tar.addfile(info)
                        continue
                    data = path.read_bytes()
                    info.type, info.size = tarfile.REGTYPE, len(data)
                    info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
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
