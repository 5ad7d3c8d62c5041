"""`grader grade`: discovery by layout, the journal, parallel verdicts, resume after a kill, and the
gradebook / feedback / class report written from real graded runs.

The end-to-end tests grade one small real batch (programs whose verdicts do not depend on timing) with
several workers and compare it with the same batch graded one run at a time; the resume test drives the
command line in a subprocess and kills it.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from html import escape
from pathlib import Path

import psutil
import pytest

from grader.batch.controller import BatchConfig, run_batch
from grader.batch.discover import discover, parse_layout, submission_digest
from grader.batch.journal import Entry, Journal
from grader.batch.scheduler import default_workers
from grader.errors import UsageError
from grader.results import BehaviourResult, SubmissionResult
from tests.conftest import COURSE, PROGRAMS, REPO, spec_of

ASSIGNMENTS = ["gevent_join", "gevent_server", "nonblocking_server", "select_server", "threaded_server"]

# The small batch: (student, assignment, program folder). bob and carol have no nonblocking_server.
BATCH = [
    ("alice", "select_server", REPO / "reference" / "select_server"),
    ("alice", "nonblocking_server", REPO / "reference" / "nonblocking_server"),
    ("bob", "select_server", PROGRAMS / "select_server" / "crashes_at_start"),
    ("carol", "select_server", PROGRAMS / "select_server" / "syntax_error"),
    ("dave", "select_server", PROGRAMS / "select_server" / "fixed_reply"),
    ("dave", "nonblocking_server", PROGRAMS / "nonblocking_server" / "uses_select"),
]


def make_batch(root: Path, batch=BATCH, layout: str = "{student}/{assignment}") -> Path:
    for student, assignment, program in batch:
        rel = layout.format(student=student, assignment=assignment)
        shutil.copytree(program, root / rel, ignore=shutil.ignore_patterns("BUG.md", "__pycache__"))
    return root


def verdicts(results: list[SubmissionResult]) -> dict[tuple[str, str, str], str]:
    return {(r.student or "", r.assignment, b.id): b.status for r in results for b in r.behaviours}


# --- discovery ---------------------------------------------------------------------------------------------

def touch_dirs(root: Path, *rels: str) -> None:
    for rel in rels:
        (root / rel).mkdir(parents=True)


def test_default_layout_finds_student_assignment_folders(tmp_path: Path) -> None:
    touch_dirs(tmp_path, "alice/select_server", "alice/gevent_join", "bob/select_server", "bob/notes",
               ".git/objects", "carol/Select-Server")
    found = discover(tmp_path, "{student}/{assignment}", ASSIGNMENTS)
    assert [(s.student, s.assignment) for s in found.submissions] == [
        ("alice", "gevent_join"), ("alice", "select_server"), ("bob", "select_server"),
        ("carol", "select_server")]
    assert [p.name for p in found.ignored] == ["notes"]


def test_classroom_layouts(tmp_path: Path) -> None:
    # `gh classroom clone student-repos` makes <slug>-submissions/<slug>-<username>/; usernames have hyphens
    touch_dirs(tmp_path, "select-server-submissions/select-server-jo-ann",
               "select-server-submissions/select-server-bob", "select-server-submissions/gevent-join-bob")
    found = discover(tmp_path, "{assignment}-submissions/{assignment}-{student}", ASSIGNMENTS)
    assert [(s.student, s.assignment) for s in found.submissions] == [
        ("bob", "select_server"), ("jo-ann", "select_server")]
    assert [p.name for p in found.ignored] == ["gevent-join-bob"]  # the placeholders must agree
    flat = tmp_path / "flat"
    touch_dirs(flat, "hw3-alice", "hw3-bob-smith", "README")
    found = discover(flat, "hw3-{student}", ["select_server"])
    assert [(s.student, s.assignment) for s in found.submissions] == [
        ("alice", "select_server"), ("bob-smith", "select_server")]


def test_layout_errors_say_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no {student}"):
        parse_layout("{assignment}")
    with pytest.raises(UsageError, match=r"unknown placeholder\(s\) \{name\}"):
        parse_layout("{name}/{assignment}")
    with pytest.raises(UsageError, match="--assignment NAME"):
        discover(tmp_path, "{student}", ASSIGNMENTS)
    touch_dirs(tmp_path, "x/select_server", "x/select-server")
    with pytest.raises(UsageError, match="two folders hold x's select_server"):
        discover(tmp_path, "{student}/{assignment}", ASSIGNMENTS)


def test_digest_follows_the_files(tmp_path: Path) -> None:
    (tmp_path / "server.py").write_text("print(1)\n")
    before = submission_digest(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.pyc").write_bytes(b"junk")
    assert submission_digest(tmp_path) == before
    (tmp_path / "server.py").write_text("print(2)\n")
    assert submission_digest(tmp_path) != before


# --- journal -----------------------------------------------------------------------------------------------

def fake_run(student: str, score: float) -> SubmissionResult:
    return SubmissionResult(assignment="select_server", submission=f"/s/{student}", student=student, behaviours=[
        BehaviourResult(id="echo", status="passed" if score else "failed", score=score, max_score=2)])


def test_journal_keeps_the_latest_run_and_drops_a_torn_line(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal.jsonl")
    j.record_batch(started_at="now", workers=2)
    j.record_run(Entry("alice", "select_server", "fp1", fake_run("alice", 0)))
    j.record_run(Entry("bob", "select_server", "fp1", fake_run("bob", 2)))
    j.record_run(Entry("alice", "select_server", "fp2", fake_run("alice", 2)))
    with open(j.path, "ab") as fh:  # what a SIGKILL in the middle of a write leaves
        fh.write(b'{"event":"run","v":1,"student":"carol","assign')
    entries = Journal(j.path).load()
    assert sorted(entries) == ["alice/select_server", "bob/select_server"]
    assert entries["alice/select_server"].fingerprint == "fp2"
    assert entries["alice/select_server"].result.score == 2
    assert j.path.read_bytes().endswith(b"}\n")  # the torn line is cut off: appends start clean
    with open(j.path, "a") as fh:
        fh.write('{"event":"surprise"}\n')
    with pytest.raises(UsageError, match="unknown journal event 'surprise'"):
        Journal(j.path).load()


def test_default_workers_exceed_the_cores_within_the_sandbox_slots() -> None:
    assert default_workers(2) > 2
    assert default_workers(1) >= 2
    assert default_workers(64) <= 32
    assert default_workers(16, behaviours_per_run=8, slots=64) == 8


def test_plan_reuses_the_journal_and_reruns_what_failed_or_changed(tmp_path: Path) -> None:
    from grader.batch.controller import fingerprint, plan

    root = make_batch(tmp_path / "subs", BATCH[:3])  # alice x2, bob
    journal = Journal(tmp_path / "out" / "journal.jsonl")
    specs = {a: spec_of(a) for a in ("select_server", "nonblocking_server")}
    for student, assignment, _p in BATCH[:3]:
        fp = fingerprint(specs[assignment], COURSE, root / student / assignment)
        score = 2 if student == "alice" else 0
        journal.record_run(Entry(student, assignment, fp, fake_run(student, score)))
    cfg = BatchConfig(root=root, layout="{student}/{assignment}", out=tmp_path / "out")
    assert plan(COURSE, cfg, journal).jobs == []  # everything journalled and unchanged
    again = plan(COURSE, BatchConfig(**{**cfg.__dict__, "rerun_failed": True}), journal)
    assert [j.submission.key for j in again.jobs] == ["bob/select_server"]
    (root / "alice" / "select_server" / "server.py").write_text("# resubmitted\n")
    changed = plan(COURSE, cfg, journal)
    assert [j.submission.key for j in changed.jobs] == ["alice/select_server"]
    assert changed.changed == 1
    assert changed.missing(["select_server", "nonblocking_server"]) == [("bob", "nonblocking_server")]


# --- real batches ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    """The small batch graded twice: --workers 6 (outputs kept) and --workers 1."""
    root = make_batch(tmp_path_factory.mktemp("subs"))
    out = {}
    for workers in (6, 1):
        cfg = BatchConfig(root=root, layout="{student}/{assignment}", out=tmp_path_factory.mktemp(f"w{workers}"),
                          workers=workers)
        out[workers] = run_batch(COURSE, cfg)
    return out


@pytest.mark.slow
def test_parallel_verdicts_equal_sequential_ones(graded) -> None:
    par, seq = graded[6], graded[1]
    assert par.outcome.done == seq.outcome.done == len(BATCH)
    assert verdicts(par.results) == verdicts(seq.results)
    v = verdicts(par.results)
    assert v[("alice", "select_server", "idle_cpu")] == "passed"
    assert v[("dave", "select_server", "echo")] == "failed"
    assert v[("dave", "nonblocking_server", "uses_nonblocking")] == "failed"
    assert v[("dave", "nonblocking_server", "echo")] == "passed"


EXPECTED_CSV_HEAD = ("student,assignment,score,max_score,"
                     "nonblocking_server:echo,nonblocking_server:concurrent_clients,")


@pytest.mark.slow
def test_gradebook_csv(graded) -> None:
    report = graded[6]
    assert report.outputs[0].name == "grades.csv"
    text = report.outputs[0].read_bytes().decode("utf-8")
    assert text.startswith(EXPECTED_CSV_HEAD)
    assert "\r\n" in text
    rows = list(csv.reader(text.splitlines()))
    header, body = rows[0], rows[1:]
    assert header[-1] == "status"
    assert all(len(r) == len(header) for r in body)
    table = {(r[0], r[1]): dict(zip(header, r, strict=True)) for r in body}
    assert sorted(table) == [("alice", "nonblocking_server"), ("alice", "select_server"),
                             ("bob", "nonblocking_server"), ("bob", "select_server"),
                             ("carol", "nonblocking_server"), ("carol", "select_server"),
                             ("dave", "nonblocking_server"), ("dave", "select_server")]
    alice = table[("alice", "select_server")]
    assert (alice["score"], alice["max_score"], alice["status"]) == ("15", "15", "graded")
    assert alice["select_server:concurrent_clients"] == "3"
    assert alice["nonblocking_server:echo"] == ""
    bob = table[("bob", "select_server")]  # crashes at start: nothing passes (uses_select needs the run too)
    assert (bob["score"], bob["select_server:echo"], bob["select_server:uses_select"]) == ("0", "0", "0")
    carol = table[("carol", "select_server")]  # syntax error: nothing passes
    assert carol["score"] == "0"
    assert carol["select_server:uses_select"] == "0"
    missing = table[("bob", "nonblocking_server")]
    assert (missing["score"], missing["max_score"], missing["status"]) == ("0", "14", "missing")
    for row in table.values():  # the score column is the sum of the behaviour columns
        prefix = row["assignment"] + ":"
        cells = [float(v) for k, v in row.items() if k.startswith(prefix) and v != ""]
        assert float(row["score"]) == sum(cells)


@pytest.mark.slow
def test_feedback_and_gradescope_results_per_run(graded) -> None:
    out = graded[6].outputs[0].parent
    runs = sorted(p.relative_to(out).as_posix() for p in out.glob("*/*/feedback.md"))
    assert runs == [f"{s}/{a}/feedback.md" for s, a, _p in sorted(BATCH)]
    bob = (out / "bob" / "select_server" / "feedback.md").read_text(encoding="utf-8")
    assert bob.startswith("# Upper-case echo server with select — bob\n")
    assert "**0 / 15 points** · 0 of 8 behaviours passed" in bob
    assert "### ❌ FAIL `echo`: the server crashed with TypeError at line 6: sk.bind('127.0.0.1', 9000)" in bob
    assert "### ❌ FAIL `idle_cpu`: not graded: the same failure as `echo`" in bob  # one cause, explained once
    assert "TypeError" in bob  # the crash's stderr, fenced
    assert "**Reproduce on your machine:** `grader check select_server . --only echo --seed " in bob
    alice = (out / "alice" / "select_server" / "feedback.md").read_text(encoding="utf-8")
    assert "Every behaviour passed" in alice
    assert "## What to fix" not in alice
    gs = json.loads((out / "bob" / "select_server" / "results.json").read_text(encoding="utf-8"))
    assert gs["score"] == 0
    assert len(gs["tests"]) == 8
    assert [t["status"] for t in gs["tests"]].count("passed") == 0


@pytest.mark.slow
def test_class_report_html_and_markdown(graded) -> None:
    report = graded[6]
    out = report.outputs[0].parent
    html = (out / "report.html").read_text(encoding="utf-8")
    md = (out / "report.md").read_text(encoding="utf-8")
    tier = report.results[0].tier
    # self-contained: nothing to fetch, nothing to run
    for needle in ("http://", "https://", "<script", "src=", "@import", "url("):
        assert needle not in html
    assert html.count("<svg") == 4  # a distribution and a pass-rate chart per assignment
    assert 'aria-label="Score distribution, select_server"' in html
    assert 'aria-label="Pass rate per behaviour, nonblocking_server"' in html
    assert f"<b>{tier}</b> (6 runs)" in html
    assert "grader 0.1.0" in html
    # the statistics are those of the graded runs (what each program scores is the corpus's business)
    for assignment, missing in (("select_server", ""), ("nonblocking_server", ", 2 missing (bob, carol)")):
        scores = [r.score for r in report.results if r.assignment == assignment]
        top = max(r.max_score for r in report.results if r.assignment == assignment)
        full = sum(s == top for s in scores)
        assert (f"{len(scores)} graded{missing}. Mean {statistics.fmean(scores):.1f} / {top:g}, median "
                f"{statistics.median(scores):g}, full marks {full} of {len(scores)}.") in md
    echo = [b.passed for r in report.results if r.assignment == "select_server" for b in r.behaviours
            if b.id == "echo"]
    assert echo.count(True) == 1  # alice only
    assert "| `echo` | 2 | 1/4 | 25% | `█████░░░░░░░░░░░░░░░` |" in md
    assert "| `uses_select` | 1 | 2/4 | 50% |" in md  # carol's does not parse, bob's never listens
    # the most common failures, grouped by behaviour + reason + wording
    crash = "the server crashed with TypeError at line 6: sk.bind('127.0.0.1', 9000)"
    assert f"| `echo` | crashed | {crash} | 1 | bob |" in md
    assert "| `echo` | syntax_error | server.py does not parse | 1 | carol |" in md
    assert ("| `uses_nonblocking` | structure | server.py imports select, which this assignment forbids | 1 | "
            "dave |") in md
    assert f"<td>{escape(crash)}</td><td class=num>1</td><td>bob</td>" in html
    # per-student table linking the feedback files (which exist)
    assert '<a href="bob/select_server/feedback.md" title="0 of 8 behaviours passed">0 / 15</a>' in html
    assert "| bob | missing | [0 / 15](<bob/select_server/feedback.md>) | 0 / 29 |" in md
    for href in ("alice/select_server/feedback.md", "dave/nonblocking_server/feedback.md"):
        assert f'href="{href}"' in html
        assert (out / href).is_file()


# --- resume --------------------------------------------------------------------------------------------

def journal_keys(path: Path) -> list[str]:
    if not path.exists():
        return []
    keys = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.endswith("}") and '"event":"run"' in line:
            msg = json.loads(line)
            keys.append(f"{msg['student']}/{msg['assignment']}")
    return keys


def grade_cmd(root: Path, out: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "grader.cli", "--course", str(REPO / "grader.yaml"), "grade", str(root),
            "--out", str(out), "--workers", str(workers), "--progress", "lines"]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_resume_after_kill_and_ctrl_c(tmp_path: Path) -> None:
    batch = [b for b in BATCH if b[0] != "alice"] + [("erin", "select_server", PROGRAMS / "select_server" /
                                                     "never_listens")]
    root = make_batch(tmp_path / "subs", batch)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    # 1. SIGKILL once the first run is journalled: nothing finished is lost, the session dies with us
    proc = subprocess.Popen(grade_cmd(root, out, 1), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for(lambda: journal_keys(out / "journal.jsonl"), 60, "the first journalled run")
    tree = psutil.Process(proc.pid).children(recursive=True)  # warm starter, session, sandboxes
    proc.kill()
    proc.wait()
    first = journal_keys(out / "journal.jsonl")
    assert first
    assert len(first) < len(batch)
    _gone, alive = psutil.wait_procs(tree, timeout=20)
    assert not alive, f"outlived the killed batch: {[p.pid for p in alive]}"
    # 2. Ctrl-C: runs in flight finish and are saved, then exit 130
    proc = subprocess.Popen(grade_cmd(root, out, 2), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    wait_for(lambda: len(journal_keys(out / "journal.jsonl")) > len(first), 60, "a run after the restart")
    proc.send_signal(signal.SIGINT)
    text, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, text
    assert "run(s) finished and saved" in text
    assert "Run the same command again to continue" in text
    second = journal_keys(out / "journal.jsonl")
    # 3. finish: every run graded exactly once across the three invocations
    done = subprocess.run(grade_cmd(root, out, 4), env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(second)} already graded (journal)" in done.stdout
    keys = journal_keys(out / "journal.jsonl")
    assert sorted(keys) == sorted(f"{s}/{a}" for s, a, _p in batch)  # none twice, none missing
    assert keys[:len(second)] == second
    rows = list(csv.DictReader((out / "grades.csv").read_text(encoding="utf-8").splitlines()))
    graded_rows = {(r["student"], r["assignment"]) for r in rows if r["status"] == "graded"}
    assert graded_rows == {(s, a) for s, a, _p in batch}
    # 4. nothing changed: nothing to grade; a changed submission is graded again
    (root / "erin" / "select_server" / "server.py").write_text("import sys\nsys.exit(3)\n")
    again = subprocess.run(grade_cmd(root, out, 2), env=env, capture_output=True, text=True, timeout=60,
                           check=False)
    assert "graded 1 run(s)" in again.stdout
    assert "1 changed since last graded" in again.stdout
