"""Find the submissions of a batch by the course's folder layout.

A layout is a relative path pattern with the placeholders `{student}` and `{assignment}`:

    {student}/{assignment}                     submissions/alice/select_server/      (the default)
    {assignment}-{student}                     select-server-alice/                  (GitHub Classroom clones)
    {assignment}-submissions/{assignment}-{student}                                  (`gh classroom clone`)
    {student}                                  with --assignment: each student folder is the submission

`{assignment}` matches only known assignment names, case-insensitively and with `-` and `_` taken as equal
(Classroom repository names use hyphens); a placeholder may appear twice (it must then match the same
text). `{student}` matches any folder-name text. Hidden folders (`.git`, ...) are never submissions.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import UsageError

PLACEHOLDER = re.compile(r"\{(\w+)\}")
KNOWN = {"student", "assignment"}
IGNORED_PARTS = {"__pycache__", ".git", ".venv", "node_modules"}


@dataclass(frozen=True, order=True)
class Submission:
    """One student's work for one assignment: the unit the batch grades (one run each)."""

    student: str
    assignment: str
    path: Path = field(compare=False)

    @property
    def key(self) -> str:
        return f"{self.student}/{self.assignment}"


@dataclass(frozen=True)
class Discovery:
    submissions: list[Submission]
    ignored: list[Path]  # folders at the layout's depth that did not match it (shown, never graded)


def parse_layout(layout: str) -> list[str]:
    """The layout's path segments, after checking its placeholders."""
    layout = layout.strip().strip("/")
    names = set(PLACEHOLDER.findall(layout))
    unknown = names - KNOWN
    if unknown:
        raise UsageError(f"submissions layout {layout!r}: unknown placeholder(s) "
                         f"{', '.join('{' + n + '}' for n in sorted(unknown))} (use {{student}} and {{assignment}})")
    if "student" not in names:
        raise UsageError(f"submissions layout {layout!r} has no {{student}}: say where each student's folder is, "
                         "e.g. '{student}/{assignment}' or '{assignment}-{student}'")
    segments = [s for s in layout.split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise UsageError(f"submissions layout {layout!r}: '.' and '..' are not allowed")
    return segments


def _assignment_pattern(name: str) -> str:
    return "".join("[-_]" if ch in "-_" else re.escape(ch) for ch in name)


def segment_regex(segment: str, assignments: list[str]) -> re.Pattern[str]:
    """A regex matching one folder name of the layout; named groups capture the placeholders."""
    out, seen, pos = [], set(), 0
    alternation = "|".join(_assignment_pattern(a) for a in sorted(assignments, key=len, reverse=True))
    for m in PLACEHOLDER.finditer(segment):
        out.append(re.escape(segment[pos:m.start()]))
        name = m.group(1)
        if name in seen:
            out.append(f"(?P={name})")
        elif name == "assignment":
            out.append(f"(?P<assignment>{alternation or '(?!)'})")
        else:
            out.append(f"(?P<{name}>.+?)")
        seen.add(name)
        pos = m.end()
    out.append(re.escape(segment[pos:]))
    return re.compile("".join(out), re.IGNORECASE)


def _norm(name: str) -> str:
    return name.lower().replace("-", "_")


def discover(root: Path, layout: str, assignments: list[str]) -> Discovery:
    """Every submission under `root` for the given assignment names, sorted by student then assignment.

    With a layout that has no `{assignment}`, `assignments` must be exactly one name (given with
    --assignment): every matching folder is a submission for it."""
    segments = parse_layout(layout)
    has_assignment = any("{assignment}" in s for s in segments)
    if not has_assignment and len(assignments) != 1:
        raise UsageError(f"submissions layout {layout!r} has no {{assignment}}: name the assignment these folders "
                         "are for with --assignment NAME")
    if not root.is_dir():
        raise UsageError(f"submissions folder {root} does not exist (set submissions_dir in grader.yaml or "
                         "pass the folder: grader grade PATH)")
    canonical = {_norm(a): a for a in assignments}
    found: dict[tuple[str, str], Submission] = {}
    ignored: list[Path] = []
    # Walk level by level; `partial` carries what earlier segments captured.
    frontier: list[tuple[Path, dict[str, str]]] = [(root, {})]
    for segment in segments:
        regex = segment_regex(segment, assignments)
        nxt: list[tuple[Path, dict[str, str]]] = []
        for folder, captured in frontier:
            for child in sorted(folder.iterdir()):
                if not child.is_dir() or child.name.startswith(".") or child.name in IGNORED_PARTS:
                    continue
                m = regex.fullmatch(child.name)
                groups = m.groupdict() if m else {}
                clash = any(k in captured and _norm(captured[k]) != _norm(v) for k, v in groups.items())
                if m is None or clash:
                    ignored.append(child)
                    continue
                nxt.append((child, {**captured, **groups}))
        frontier = nxt
    for folder, captured in frontier:
        if folder.is_symlink():  # a student's submission folder linking to another's is never theirs (issue 9)
            ignored.append(folder)
            continue
        student = captured["student"]
        if has_assignment:
            assignment = canonical[_norm(captured["assignment"])]
        else:
            assignment = assignments[0]
        key = (student, assignment)
        if key in found:
            raise UsageError(f"two folders hold {student}'s {assignment}: {found[key].path} and {folder}; "
                             "keep one (or fix the submissions layout)")
        found[key] = Submission(student, assignment, folder)
    return Discovery(sorted(found.values()), ignored)


def submission_digest(path: Path) -> str:
    """A hash of what the sandbox would copy of a submission: a changed submission is graded again.

    Regular files by their content (at most what intake copies); a symbolic link by its target text and a
    special file by its type, never followed or opened (a link to / or /dev/zero in a submission must not
    walk the machine or read forever), so adding one, which intake refuses, is a change too."""
    h = hashlib.sha256()
    if not path.is_dir():
        return "missing"
    entries: list[tuple[str, ...]] = []
    for folder, dirs, names in os.walk(path):  # never follows a link to a folder
        dirs[:] = [d for d in dirs if d not in IGNORED_PARTS]
        rel = Path(folder).relative_to(path).parts
        # a link to a folder is listed among dirs but not walked: it is an entry like any other
        entries += [(*rel, n) for n in names + [d for d in dirs if os.path.islink(os.path.join(folder, d))]
                    if not n.endswith(".pyc")]
    for parts in sorted(entries):
        f = path.joinpath(*parts)
        h.update("/".join(parts).encode("utf-8", "surrogateescape") + b"\0")
        try:  # never follow a link nor block on a FIFO, and read no more than intake would copy (issue 9)
            mode = os.lstat(f).st_mode
            if stat.S_ISLNK(mode):  # intake refuses links: adding or changing one must change the digest
                h.update(b"link " + os.fsencode(os.readlink(f)))
            elif not stat.S_ISREG(mode):
                h.update(f"special {stat.S_IFMT(mode):o}".encode())
            else:
                fd = os.open(f, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                with os.fdopen(fd, "rb") as fh:
                    h.update(fh.read(16 << 20))
        except OSError as exc:
            h.update(f"unreadable: {exc.errno}".encode())
        h.update(b"\0")
    return h.hexdigest()[:16]
