"""One failure explanation, built once from a result and formatted by every reporter.

What a student needs about a failed behaviour (okpy's shape): what went wrong in one line, the behaviour,
what the grader expected, what it observed, why, a hint, what the grader did, the program's stderr, and a
command that reruns just that behaviour. The terminal, Markdown (feedback.md, the Classroom step summary),
Gradescope and Classroom reporters format this one structure; none picks fields from a result itself.

Student text (bytes the server sent, its stderr, file names from the submission) reaches these fields, so
every string here has passed through `visible()`: control characters cannot drive the reader's terminal.
Each format then adds its own escaping (Markdown fences, HTML entities).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from grader.i18n import N_, _
from grader.results import BehaviourResult

TRANSCRIPT_LINES = 40  # a long transcript keeps its first and last halves
STDERR_LINES = 15
GRADER_ERROR_NOTE = N_("The grader itself failed on this behaviour: this is not (necessarily) a fault in your "
                     "code. Please tell your instructor.")

# C0 controls but tab and newline, DEL, C1 controls (U+009B is a CSI in some terminals), line and paragraph
# separators, and the bidirectional overrides that reorder what a reader sees (Trojan Source).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """`text` with every control character shown as an escape (`\\x1b`), newlines and tabs kept.

    Idempotent: the escapes it writes are printable."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


@dataclass(frozen=True)
class Part:
    """One labelled piece of an explanation. `verbatim` parts (observed, transcript, stderr) are lines to
    show as they are, in a block; the others are prose."""

    key: str  # expected, observed, why, hint, transcript, stderr
    body: str
    verbatim: bool


@dataclass(frozen=True)
class Explanation:
    behaviour: str
    status: str  # passed, failed, error
    headline: str  # what went wrong, one line
    title: str  # what the behaviour is
    score: float
    max_score: float
    parts: tuple[Part, ...]
    rerun: str

    @property
    def grader_error(self) -> bool:
        return self.status == "error"


def rerun_here(assignment: str, b: BehaviourResult) -> str:
    """The command that reproduces one behaviour, run from the student's own folder."""
    parts = ["grader", "check", assignment, ".", "--only", b.id]
    if b.seed is not None:
        parts += ["--seed", str(b.seed)]
    return shlex.join(parts)


def transcript_lines(b: BehaviourResult, limit: int = TRANSCRIPT_LINES) -> list[str]:
    lines = [f"t={e.t:6.2f}  {e.actor:<16} {e.text}" for e in b.transcript]
    if len(lines) <= limit:
        return lines
    half = limit // 2
    more = _("... {n} more events ...").format(n=len(lines) - 2 * half)
    return [*lines[:half], f"        {more}", *lines[-half:]]


def explain(b: BehaviourResult, rerun: str) -> Explanation:
    """The explanation of `b`; `rerun` is the command shown to reproduce it (see rerun_here)."""
    stderr = "\n".join(b.stderr_tail.strip().splitlines()[-STDERR_LINES:])
    candidates = [("expected", b.expected, False), ("observed", b.observed, True), ("why", b.diagnosis, False),
                  ("hint", b.hint, False), ("transcript", "\n".join(transcript_lines(b)), True),
                  ("stderr", stderr, True)]
    parts = tuple(Part(key, visible(body.rstrip()), verbatim) for key, body, verbatim in candidates
                  if body.strip())
    return Explanation(behaviour=visible(b.id), status=b.status,
                       headline=visible(" ".join((b.summary or b.title or _("failed")).split())),
                       title=visible(b.title), score=b.score, max_score=b.max_score, parts=parts,
                       rerun=visible(rerun))
