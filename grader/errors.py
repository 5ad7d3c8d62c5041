"""Errors a user can act on: each message says where the problem is and how to fix it."""

from __future__ import annotations

from grader.i18n import _


class GraderError(Exception):
    """Base of every expected, user-facing error (never shown with a traceback)."""

    exit_code = 2


class SpecError(GraderError):
    """An assignment spec or the course config is malformed."""

    def __init__(self, path: object, line: int | None, where: str, message: str) -> None:
        self.path, self.line, self.where, self.message = str(path), line, where, message
        loc = f"{self.path}:{line}" if line else self.path
        prefix = f"{where}: " if where else ""
        super().__init__(_("spec error: {location}: {message}").format(location=loc, message=prefix + message))


class UsageError(GraderError):
    """The command line or the file layout is wrong."""
