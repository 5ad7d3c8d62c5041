"""The batch journal: an append-only JSON-lines file of finished runs, fsync'ed as each run completes.

    {"event": "batch", "v": 1, "started_at": ..., "grader_version": ..., "workers": ..., "where": ...}
    {"event": "run", "v": 1, "student": ..., "assignment": ..., "fingerprint": ..., "result": {SubmissionResult}}

A run is journalled only once its session has ended and its SubmissionResult is complete, so whatever stops the
batch (Ctrl-C, SIGKILL, a power cut) the journal holds exactly the runs that finished. On restart, a
journalled run whose fingerprint still matches (same submission files, spec, course config and grader
version) is not graded again. The last record of a (student, assignment) wins: `--rerun-failed` appends.

A line cut short by a kill in the middle of a write is the one damage possible; it is dropped (and cut off
the file) when the journal is opened, never taken for a result.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import UsageError
from grader.results import SubmissionResult

VERSION = 1
EVENTS = ("batch", "run")


@dataclass(frozen=True)
class Entry:
    """A finished run as the journal holds it."""

    student: str
    assignment: str
    fingerprint: str
    result: SubmissionResult

    @property
    def key(self) -> str:
        return f"{self.student}/{self.assignment}"


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.dropped_partial_line = False

    def load(self) -> dict[str, Entry]:
        """The latest entry per (student, assignment); repairs a torn last line."""
        entries: dict[str, Entry] = {}
        if not self.path.exists():
            return entries
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            # The batch was killed in the middle of a write: that run did not finish being journalled.
            cut = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as fh:
                fh.truncate(cut)
                fh.flush()
                os.fsync(fh.fileno())
            data = data[:cut]
            self.dropped_partial_line = True
        for lineno, raw in enumerate(data.decode("utf-8").splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                msg = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{self.path}:{lineno}: not a journal line ({exc.msg}); the journal is damaged — "
                                 "move it away (or pass --fresh) to grade everything again") from None
            event = msg.get("event")
            if event not in EVENTS:
                raise UsageError(f"{self.path}:{lineno}: unknown journal event {event!r} (written by a newer "
                                 "grader?); pass --fresh to start a new journal")
            if event == "run":
                e = Entry(msg["student"], msg["assignment"], msg.get("fingerprint", ""),
                          SubmissionResult.model_validate(msg["result"]))
                entries[e.key] = e
        return entries

    def _append(self, msg: dict[str, Any]) -> None:
        line = (json.dumps(msg, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One write() of the whole line on an O_APPEND descriptor, then fsync: a kill leaves either
            # the complete line or a torn one that load() drops.
            new = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(line)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                os.fsync(fd)
            finally:
                os.close(fd)
            if new:  # the file's own directory entry must survive a power cut too
                dfd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)

    def record_batch(self, **info: Any) -> None:
        self._append({"event": "batch", "v": VERSION, **info})

    def record_run(self, entry: Entry) -> None:
        self._append({"event": "run", "v": VERSION, "student": entry.student, "assignment": entry.assignment,
                      "fingerprint": entry.fingerprint, "result": entry.result.model_dump(mode="json")})

    def archive(self) -> Path | None:
        """Move the journal aside (for --fresh): nothing is deleted."""
        if not self.path.exists():
            return None
        n = 1
        while (dest := self.path.with_name(f"{self.path.stem}.{n}{self.path.suffix}")).exists():
            n += 1
        self.path.rename(dest)
        return dest
