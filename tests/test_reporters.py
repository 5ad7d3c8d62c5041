"""The reporters: one failure explanation in every format, student text neutralised, golden files.

Golden files (tests/golden/) hold every report format for one hostile result. After an intended change of
wording, regenerate them and read the diff: `GRADER_UPDATE_GOLDENS=1 .venv/bin/python -m pytest
tests/test_reporters.py -k golden`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from grader.reporters import classroom, csv, html, markdown, terminal
from grader.reporters.class_summary import summarize
from grader.reporters.explain import GRADER_ERROR_NOTE, STDERR_LINES, TRANSCRIPT_LINES, explain, rerun_here, visible
from grader.reporters.gradescope import to_gradescope
from grader.results import BehaviourResult, Event, SubmissionResult
from tests.conftest import REPO

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("GRADER_UPDATE_GOLDENS") == "1"
# What a terminal (or a browser, or a Markdown viewer) may act on instead of showing.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
PAINT = "\x1b[2J\x1b[H\x1b[32m  PASS  concurrent  3/3\nTotal: 6.5/6.5\x1b[0m\x1b[8m"  # a fake report
STDERR = f"Traceback (most recent call last):\n````\nValueError: `boom` <script>x</script>\n{PAINT}\n"


def hostile_result() -> SubmissionResult:
    """Passed, failed and errored behaviours; student text with escapes, backticks, HTML and Markdown."""
    return SubmissionResult(
        assignment="echo_up", title="Echo *up*", submission="subs/alice\x1b[31m/echo_up", student="alice\x9b2J",
        tier="netns (tier A)", tier_note="", python="3.11.7, student runtime", grader_version="0.1.0",
        started_at="2026-11-29T10:00:00+00:00",
        duration=3.2, behaviours=[
            BehaviourResult(id="echo", title="echoes every message", check="echo", status="passed", score=2,
                            max_score=2, seed=1, duration=0.25),
            BehaviourResult(
                id="concurrent", title="serves <b>many</b> clients", check="concurrent_clients", status="failed",
                reason="no_reply", score=0, max_score=3, summary="client 3 got b'\\x1b' then \x1b[2Jno more",
                expected="64 B 'HI' within 3.0 s", observed=f"got b'```'\n# not a heading\n{PAINT}\nstill inside",
                diagnosis="The server's main thread is blocked in recvfrom() on fd 4.",
                hint="call conn.setblocking(False) [right after](http://x) accept()", seed=7, duration=2.5,
                transcript=[Event(t=0.1, actor="client3", text="sent 2 B 'hi'"),
                            Event(t=0.2, actor="client3", text="got \x1b]0;owned\x07 back")],
                stderr_tail=STDERR, rerun="grader check echo_up 'subs/alice\x1b[31m/echo_up' --only concurrent"),
            BehaviourResult(id="idle", title="idles", check="idle_cpu", status="error", score=0, max_score=1.5,
                            summary="the grader itself failed", observed="OSError: x"),
        ])


def reports() -> dict[str, str]:
    """Every format, as the text a reader gets."""
    r = hostile_result()
    summary = summarize([r], missing=[("bob", "echo_up")], course="Course \x1b[5m", generated_at="2026-11-29")
    return {
        "terminal.txt": terminal.render(r),
        "failure.txt": terminal.failure_text(r.behaviours[1]),  # pytest's repr_failure, hence JUnit XML
        "feedback.md": markdown.feedback(r),
        "results.json": json.dumps(to_gradescope(r), indent=2, ensure_ascii=False) + "\n",
        "classroom.json": json.dumps(classroom.to_classroom(r), indent=2, ensure_ascii=False) + "\n",
        "step_summary.md": classroom.step_summary(r),
        "report.md": markdown.class_report(summary),
        "report.html": html.class_report(summary),
        "grades.csv": csv.to_csv([r], missing=[("bob", "echo_up")]),
    }


# --- golden files ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(reports()))
def test_golden(name):
    got = reports()[name]
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(got.encode("utf-8"))
    assert path.is_file(), f"{path} is missing: run with GRADER_UPDATE_GOLDENS=1 to write it"
    assert got == path.read_bytes().decode("utf-8"), (
        f"{name} differs from {path}; if the change is intended: GRADER_UPDATE_GOLDENS=1 pytest {__file__}")


# --- student text neutralised ------------------------------------------------------------------------------

def test_visible_shows_controls_and_keeps_the_rest():
    assert visible("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert visible("\r\x00\x7f\x9b\u202e\u2028") == "\\x0d\\x00\\x7f\\x9b\\u202e\\u2028"
    kept = "line\n\tindented é ✅ █ — 中文"
    assert visible(kept) == kept
    assert visible(visible("\x1b\x07")) == visible("\x1b\x07")


@pytest.mark.parametrize("name", sorted(set(reports()) - {"grades.csv"}))
def test_no_report_carries_a_control_character(name):
    text = reports()[name]
    if name.endswith(".json"):
        text = json.dumps(json.loads(text), ensure_ascii=False)  # the strings, as a viewer shows them
    assert CONTROL.findall(text) == []
    assert re.search(r"x1b\\?\[", text)  # shown, not dropped (Markdown prose escapes the bracket)


def test_terminal_cannot_be_painted_over():
    out = terminal.render(hostile_result())
    lines = out.splitlines()
    assert lines[-1].startswith("Total: 2/6.5 (1 of 3 behaviours passed")
    assert [ln for ln in lines if ln.startswith("Total:")] == [lines[-1]]  # the fake one stays indented
    assert [ln for ln in lines if ln.startswith("  PASS ")] == ["  PASS  echo        2/2"]
    assert "  FAIL  concurrent  0/3  client 3 got b'\\x1b' then \\x1b[2Jno more" in lines


def test_markdown_and_html_escape_student_text():
    md = markdown.feedback(hostile_result())
    assert "serves \\<b\\>many\\</b\\> clients" in md
    assert "\\[right after\\](http://x)" in md
    assert "<script>" not in md.split("```")[0]
    page = html.class_report(summarize([hostile_result()], course="<i>c</i>"))
    assert "<i>c</i>" not in page
    assert "&lt;i&gt;c&lt;/i&gt;" in page


def test_json_keeps_student_text_as_data():
    r = hostile_result()
    back = SubmissionResult.model_validate_json(r.model_dump_json())
    assert back.behaviours[1].stderr_tail == STDERR
    assert "\x1b" in back.behaviours[1].observed


def test_classroom_message_is_plain_text_without_controls():
    runner = classroom.to_classroom(hostile_result())
    failed = runner["tests"][1]
    assert failed["message"].startswith("client 3 got b'\\x1b' then \\x1b[2Jno more\nexpected: 64 B")
    assert "why: The server's main thread" in failed["message"]
    assert CONTROL.findall(json.dumps(runner, ensure_ascii=False)) == []


# --- one explanation -----------------------------------------------------------------------------------

def test_explanation_parts_in_order_and_only_what_is_known():
    r = hostile_result()
    e = explain(r.behaviours[1], rerun_here(r.assignment, r.behaviours[1]))
    assert [p.key for p in e.parts] == ["expected", "observed", "why", "hint", "transcript", "stderr"]
    assert [p.verbatim for p in e.parts] == [False, True, False, False, True, True]
    assert e.rerun == "grader check echo_up . --only concurrent --seed 7"
    bare = explain(BehaviourResult(id="x", status="failed", score=0, max_score=1), "")
    assert (bare.headline, bare.parts) == ("failed", ())


def test_explanation_cuts_long_transcripts_and_stderr():
    events = [Event(t=i, actor="c", text=f"event {i}") for i in range(100)]
    b = BehaviourResult(id="x", status="failed", score=0, max_score=1, transcript=events,
                        stderr_tail="".join(f"line {i}\n" for i in range(50)))
    parts = {p.key: p.body for p in explain(b, "").parts}
    lines = parts["transcript"].splitlines()
    assert len(lines) == TRANSCRIPT_LINES + 1
    assert "event 0" in lines[0]
    assert "event 99" in lines[-1]
    assert f"... {100 - TRANSCRIPT_LINES} more events ..." in lines[TRANSCRIPT_LINES // 2]
    assert parts["stderr"].splitlines() == [f"line {i}" for i in range(50 - STDERR_LINES, 50)]


def test_every_format_shows_the_same_explanation():
    """Each format carries each part of the one explanation (escaped its own way)."""
    r = hostile_result()
    b = r.behaviours[1]
    formats = {"terminal": terminal.failure_text(b), "feedback": markdown.feedback(r),
               "gradescope": to_gradescope(r)["tests"][1]["output"], "step summary": classroom.step_summary(r)}
    for name, text in formats.items():
        for needle in ("64 B 'HI' within 3.0 s", "blocked in recvfrom() on fd 4", "# not a heading",
                       "sent 2 B 'hi'", "ValueError: `boom`", "--only concurrent"):
            assert needle in text, f"{name} lacks {needle!r}"
    errored = {"terminal": terminal.failure_text(r.behaviours[2]), "feedback": markdown.feedback(r),
               "gradescope": to_gradescope(r)["tests"][2]["output"], "step summary": classroom.step_summary(r)}
    for name, text in errored.items():
        assert GRADER_ERROR_NOTE in text, f"{name} does not say the grader failed"


# --- end to end: a real server writing escapes -------------------------------------------------------------

@pytest.fixture
def scratch():
    path = tempfile.mkdtemp(prefix="grader-reporter-tests-")  # like test_cli: the runs' copies, told apart
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_a_server_writing_escapes_cannot_paint_the_report(tmp_path, scratch):
    """tests/hostile/ansi_stderr clears the screen and paints a fake report on its stderr and in its replies."""
    env = dict(os.environ, GRADER_SCRATCH=scratch)
    spec, program = REPO / "tests/hostile/assignment.yaml", REPO / "tests/hostile/ansi_stderr"

    def check(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "grader.cli", "check", str(spec), str(program), "--only",
                               "small", *extra], capture_output=True, text=True, timeout=120, env=env, check=False)

    proc = check("--results", str(tmp_path / "results.json"), "--junitxml", str(tmp_path / "junit.xml"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert CONTROL.findall(proc.stdout) == []
    assert "\\x1b[2J\\x1b[H\\x1b[32m  PASS  small  1/1" in proc.stdout  # its stderr, made visible
    lines = proc.stdout.splitlines()
    assert lines[-1].startswith("Total: 0/1 ")
    assert [ln for ln in lines if ln.startswith("  PASS")] == []
    results = json.loads((tmp_path / "results.json").read_text())
    assert CONTROL.findall(json.dumps(results, ensure_ascii=False)) == []
    assert "x1b[2J" in results["tests"][0]["output"]
    failure = ET.parse(tmp_path / "junit.xml").getroot().find(".//failure")  # noqa: S314 - written by us
    assert failure is not None
    assert CONTROL.findall(failure.get("message", "") + (failure.text or "")) == []
    data = json.loads(check("--json").stdout)  # JSON keeps what the server wrote, as data
    assert "\x1b[2J\x1b[H" in data["behaviours"][0]["stderr_tail"]


@pytest.mark.slow
def test_a_file_name_with_escapes_is_shown_as_text(tmp_path, scratch):
    """File names come from the submission too (here in a missing-entry failure)."""
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "x\x1b[2J\x1b[Hy.txt").write_text("no server here")
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "check", "select_server", str(sub), "--only", "echo"],
                          capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
                          env=dict(os.environ, GRADER_SCRATCH=scratch))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert CONTROL.findall(proc.stdout + proc.stderr) == []
    assert "x\\x1b[2J\\x1b[Hy.txt" in proc.stdout
