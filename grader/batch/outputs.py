"""What a batch writes into its output folder (every file written whole, then renamed into place):

    OUT/journal.jsonl                          the finished runs (batch/journal.py)
    OUT/<student>/<assignment>/results.json    Gradescope format, as each run finishes
    OUT/<student>/<assignment>/feedback.md     what the student reads, as each run finishes
    OUT/grades.csv                             the gradebook
    OUT/report.html, OUT/report.md             the class report and its Markdown twin
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from grader.reporters import csv as csv_report
from grader.reporters import html as html_report
from grader.reporters import markdown as md_report
from grader.reporters.class_summary import feedback_relpath, summarize
from grader.reporters.gradescope import to_gradescope
from grader.results import RunResult

CLASS_FILES = ("grades.csv", "report.html", "report.md")


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these files are for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_dir(out: Path, student: str, assignment: str) -> Path:
    for part in (student, assignment):
        if not part or part in (".", "..") or "/" in part or "\\" in part:
            raise ValueError(f"unsafe name for an output folder: {part!r}")
    return out / Path(feedback_relpath(student, assignment)).parent


def write_run(out: Path, result: RunResult) -> Path:
    """results.json and feedback.md of one finished run; returns its folder."""
    d = run_dir(out, result.student or "", result.assignment)
    write_atomic(d / "results.json", json.dumps(to_gradescope(result), indent=2, ensure_ascii=False) + "\n")
    write_atomic(d / "feedback.md", md_report.feedback(result))
    return d


def write_class(out: Path, results: Sequence[RunResult], *, missing: Sequence[tuple[str, str]] = (),
                course: str = "", generated_at: str = "", titles: dict[str, str] | None = None,
                max_scores: dict[str, float] | None = None) -> list[Path]:
    """grades.csv, report.html and report.md over every run of the batch."""
    summary = summarize(results, missing=missing, course=course, generated_at=generated_at, titles=titles,
                        max_scores=max_scores)
    files = {
        "grades.csv": csv_report.to_csv(results, missing, max_scores),
        "report.html": html_report.class_report(summary),
        "report.md": md_report.class_report(summary),
    }
    for name, text in files.items():
        write_atomic(out / name, text)
    return [out / name for name in files]
