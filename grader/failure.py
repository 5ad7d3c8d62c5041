"""The one exception a check raises when the submission misbehaves."""

from __future__ import annotations

from typing import Any

from grader.i18n import _


class BehaviourFailed(Exception):
    """The submission did not do what the behaviour requires.

    summary: one line (what went wrong); expected / observed: with numbers; reason: a machine-readable
    code for what kind of failure this is (`no_reply`, `never_listened`, `crashed`, `timeout`, ...).
    """

    def __init__(self, summary: str, *, expected: str = "", observed: str = "", reason: str = "",
                 evidence: dict[str, Any] | None = None) -> None:
        super().__init__(summary)
        self.summary = summary
        self.expected = expected
        self.observed = observed
        self.reason = reason
        self.evidence = evidence or {}


class NotObservable(Exception):
    """What this behaviour judges cannot be observed where the grader runs (e.g. O_NONBLOCK flags through
    psutil, or sockets in another network namespace): the behaviour is "not graded here", never failed."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(_("{what} cannot be observed here ({why})").format(what=what, why=why))
        self.what = what
        self.why = why
