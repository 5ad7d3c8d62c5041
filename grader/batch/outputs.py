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
from html import escape
from pathlib import Path

from grader.reporters import csv as csv_report
from grader.reporters import html as html_report
from grader.reporters import markdown as md_report
from grader.reporters.class_summary import feedback_relpath, summarize
from grader.reporters.gradescope import to_gradescope
from grader.results import SubmissionResult

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


def write_run(out: Path, result: SubmissionResult) -> Path:
    """results.json and feedback.md of one finished run; returns its folder."""
    d = run_dir(out, result.student or "", result.assignment)
    write_atomic(d / "results.json", json.dumps(to_gradescope(result), indent=2, ensure_ascii=False) + "\n")
    write_atomic(d / "feedback.md", md_report.feedback(result))
    return d


def write_class(out: Path, results: Sequence[SubmissionResult], *, missing: Sequence[tuple[str, str]] = (),
                course: str = "", generated_at: str = "", titles: dict[str, str] | None = None,
                max_scores: dict[str, float] | None = None) -> list[Path]:
    """grades.csv, report.html and report.md over every run of the batch."""
    summary = summarize(results, missing=missing, course=course, generated_at=generated_at, titles=titles,
                        max_scores=max_scores)
    md, html_text = md_report.class_report(summary), html_report.class_report(summary)
    warning = insecure_cluster_warning(results)
    if warning:  # at the top, where nobody misses it
        head, _sep, rest = md.partition("\n")
        md = f"{head}\n\n> ⚠️ {md_report.text(warning)}\n{rest}"
        html_text = html_text.replace("</h1>", f'</h1>\n<p class="note"><b>⚠️ {escape(warning)}</b></p>', 1)
    placed = sorted((r.student or "", r.assignment, r.worker) for r in results if r.worker)
    if placed:  # a cluster batch: say which worker graded which run
        md += "\n## Where each run was graded\n\n| student | assignment | worker |\n|---|---|---|\n" + "".join(
            f"| {md_report.text(st)} | {md_report.text(a)} | {md_report.text(w)} |\n" for st, a, w in placed)
        rows = "".join(f"<tr><td>{escape(st)}</td><td>{escape(a)}</td><td>{escape(w)}</td></tr>"
                       for st, a, w in placed)
        section = ("<h2>Where each run was graded</h2><table><tr><th>student</th><th>assignment</th>"
                   f"<th>worker</th></tr>{rows}</table>\n")
        html_text = html_text.replace("</body></html>", section + "</body></html>", 1)
    files = {
        "grades.csv": csv_report.to_csv(results, missing, max_scores),
        "report.html": html_text,
        "report.md": md,
    }
    for name, text in files.items():
        write_atomic(out / name, text)
    return [out / name for name in files]


def insecure_cluster_warning(results: Sequence[SubmissionResult]) -> str:
    """Runs graded on workers reached in the clear from the network (`--insecure-cluster`), said in the class
    report from the journalled workers' addresses — so a report rewritten later still says it."""
    from grader.batch.security import insecure_workers
    from grader.i18n import ngettext

    workers = insecure_workers(r.worker for r in results if r.worker)
    if not workers:
        return ""
    runs = sum(1 for r in results if r.worker in workers)
    return ngettext("{n} run was graded on a cluster reached over plain, unauthenticated and unencrypted "
                    "connections (--insecure-cluster; workers {workers}): whoever could reach it could run code "
                    "on the workers and change grades. Grade over tls:// (docs/batch.md).",
                    "{n} runs were graded on a cluster reached over plain, unauthenticated and unencrypted "
                    "connections (--insecure-cluster; workers {workers}): whoever could reach it could run code "
                    "on the workers and change grades. Grade over tls:// (docs/batch.md).", runs).format(
                        n=runs, workers=", ".join(workers))
