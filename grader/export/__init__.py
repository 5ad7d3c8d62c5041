"""Exports for the platforms courses run on: a Gradescope autograder zip and a GitHub Classroom workflow.

Both carry the same things: a wheel of this grader (built offline, see wheel.py), the course config, and the
assignment's folder (its spec and any files next to it). Reference solutions never leave the machine: files
under the course's reference folder are skipped, and an export whose content matches any reference file byte
for byte is refused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader import __version__
from grader.errors import UsageError
from grader.i18n import _
from grader.spec import Course, Spec

TEMPLATES = Path(__file__).with_name("templates")
SKIP_DIRS = {"__pycache__", ".git", ".venv", "venv", "node_modules"}
SKIP_SUFFIXES = {".pyc", ".pyo"}
MIN_REFERENCE_BYTES = 32  # tiny files (an empty __init__.py) may legitimately be identical


class ExportError(UsageError):
    """The export cannot be built as asked (exit code 2, message says what to do)."""


@dataclass
class Export:
    path: Path
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def template(name: str, **values: object) -> str:
    """A template from grader/export/templates with every @@KEY@@ replaced (and none left over)."""
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@@{key.upper()}@@", str(value))
    left = sorted(set(re.findall(r"@@([A-Z_]+)@@", text)))
    if left:
        raise RuntimeError(f"template {name}: no value for {', '.join(left)}")
    return text


def _under(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def assignment_files(course: Course, spec: Spec) -> list[tuple[str, Path]]:
    """(path relative to the assignment folder, file) for the spec and any file beside it, sorted."""
    folder = spec.path.parent
    out = []
    for f in sorted(folder.rglob("*")):
        rel = f.relative_to(folder)
        if not f.is_file() or f.suffix in SKIP_SUFFIXES:
            continue
        if any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts):
            continue
        if _under(f, course.reference_path):
            continue
        out.append((rel.as_posix(), f))
    return out


def assignments_subdir(course: Course) -> str:
    """Where the assignment goes in an export, so that `--course <copied grader.yaml>` finds it by name."""
    sub = Path(course.assignments_dir)
    if sub.is_absolute() or ".." in sub.parts:
        raise ExportError(_("assignments_dir {value} in grader.yaml must be a folder below the course (like "
                            "'assignments') to be exported").format(value=repr(course.assignments_dir)))
    return sub.as_posix()


def course_file_text(course: Course) -> str:
    """The course's grader.yaml, with `language:` set to the course's (an `export --lang` override)."""
    path = course.root / "grader.yaml"
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        text = "# no grader.yaml in the course: every default applies\n{}\n"
    if course.language and re.search(rf"(?m)^language:\s*['\"]?{re.escape(course.language)}\b", text) is None:
        text = re.sub(r"(?m)^language:.*\n?", "", text).replace("\n{}\n", "\n")
        text = text.rstrip("\n") + f"\nlanguage: {course.language}  # of every message (grader export --lang)\n"
    return text


def reference_digests(course: Course) -> dict[str, str]:
    """sha256 -> file, for every reference solution file of the course."""
    root = course.reference_path
    out: dict[str, str] = {}
    if root.is_dir():
        for f in root.rglob("*"):
            if f.is_file() and f.stat().st_size >= MIN_REFERENCE_BYTES:
                out[hashlib.sha256(f.read_bytes()).hexdigest()] = str(f)
    return out


def refuse_reference(course: Course, members: dict[str, bytes]) -> None:
    """Raise if any exported file is byte-identical to a reference solution file."""
    digests = reference_digests(course)
    for name, data in members.items():
        ref = digests.get(hashlib.sha256(data).hexdigest()) if len(data) >= MIN_REFERENCE_BYTES else None
        if ref:
            raise ExportError(_("refusing to export: {name} is identical to the reference solution file {ref}; "
                                "reference solutions must never reach students or Gradescope").format(
                name=name, ref=ref))


def behaviours_summary(spec: Spec) -> list[dict]:
    return [{"id": b.id, "title": b.title, "points": b.points, "visibility": b.visibility}
            for b in spec.behaviours]


__all__ = ["Export", "ExportError", "TEMPLATES", "__version__", "assignment_files", "assignments_subdir",
           "behaviours_summary",
           "course_file_text", "refuse_reference", "template"]
