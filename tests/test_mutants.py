"""grader mutants: operators on small sources, dedup, accounting, report formats (fast), and one slow run
grading a few mutants of select_server through the real sandbox and batch backend."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.errors import SpecError
from grader.mutants import equivalent, operators, report
from grader.mutants.generate import generate
from grader.mutants.grade import ORIGINAL, classify
from grader.mutants.operators import GENERIC, OPERATORS
from grader.results import BehaviourResult, SubmissionResult
from tests.conftest import COURSE, REPO, spec_of

SERVER = """\
import select
import socket

sk = socket.socket()
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
sk.setblocking(False)
conns = [sk]
while True:
    r, w, x = select.select(conns, [], [])
    for s in r:
        if s is sk:
            conn, addr = sk.accept()
            conn.setblocking(False)
            conns.append(conn)
            continue
        try:
            data = s.recv(1024)
            s.sendall(data.upper())
        except ConnectionError:
            pass
        if not data:
            conns.remove(s)
            s.close()
"""

GEVENT = """\
from gevent import monkey
monkey.patch_all()
import time
import gevent

def worker(n):
    print(n, flush=True)
    time.sleep(0.5)
    gevent.sleep(0)

gs = [gevent.spawn(worker, n) for n in range(1, 6)]
gevent.joinall(gs)
"""

THREADED = """\
import socket
import threading

def handler(conn):
    conn.close()

sk = socket.socket()
sk.listen(128)
while True:
    conn, addr = sk.accept()
    threading.Thread(target=handler, args=(conn,), daemon=True).start()
"""


def mutants_of(source: str, name: str) -> dict[str, str]:
    """description -> mutated source (normalised by ast.unparse) for one operator."""
    tree = ast.parse(source)
    return {d: ast.unparse(tree) for d in OPERATORS[name](tree)}


def one(source: str, name: str) -> str:
    found = mutants_of(source, name)
    assert len(found) == 1, found
    return next(iter(found.values()))


def test_every_operator_names_the_mistake_it_models_and_leaves_the_tree_as_it_found_it():
    for name, op in OPERATORS.items():
        assert operators.mistake(name), name
        for source in (SERVER, GEVENT, THREADED):
            tree = ast.parse(source)
            before = ast.dump(tree)
            list(op(tree))
            assert ast.dump(tree) == before, f"{name} did not undo its change"


def test_socket_operators():
    assert "conn.setblocking" not in one(SERVER, "accepted_left_blocking")
    assert "sk.setblocking" in one(SERVER, "accepted_left_blocking")
    assert "sk.setblocking" not in one(SERVER, "listener_left_blocking")
    assert "s.close\n" in one(SERVER, "close_without_parens") + "\n"
    assert "s.close" not in one(SERVER, "close_dropped")
    assert "conns.remove" not in one(SERVER, "closed_kept_in_list")
    uncaught = one(SERVER, "connection_error_uncaught")
    assert "ConnectionError" not in uncaught
    assert "data = s.recv(1024)" in uncaught
    assert "if False:" in one(SERVER, "closed_connection_unchecked")
    assert "s.send(data.upper())" in one(SERVER, "send_for_sendall")
    assert "s.recv(1)" in one(SERVER, "recv_one_byte")
    assert "sk.listen(1)" in one(SERVER, "listen_backlog_one")
    assert "select.select(conns, [], [], 0)" in one(SERVER, "select_timeout_zero")
    assert mutants_of(SERVER, "busy_polling") == {}  # waits in select: not this mistake
    busy = one(THREADED, "busy_polling")
    assert "sk.setblocking(False)" in busy
    assert "except BlockingIOError:\n        continue" in busy
    assert "Thread(target=handler, args=(conn,), daemon=True).run()" in one(THREADED, "spawn_inline")


def test_gevent_operators():
    assert "patch_all" not in one(GEVENT, "patch_all_removed")
    assert "monkey.patch_all\n" in one(GEVENT, "patch_all_without_parens")
    moved = one(GEVENT, "patch_all_after_imports")
    assert moved.index("import gevent") < moved.index("monkey.patch_all()")
    first = one(GEVENT, "from_time_import_sleep_first")
    assert first.startswith("from time import sleep\n")
    assert "    sleep(0.5)" in first
    assert "monkey.patch_socket()" in one(GEVENT, "patch_socket_only")
    assert "time.sleep(0)" in one(GEVENT, "time_sleep_for_gevent_sleep")
    assert "gevent.sleep(0.5)" in one(GEVENT, "gevent_sleep_for_time_sleep")
    assert "joinall" not in one(GEVENT, "join_dropped")
    assert "gevent.joinall(gs, timeout=0.05)" in one(GEVENT, "join_timeout_too_short")
    assert "gevent.sleep(0)\n" in one(GEVENT, "yield_instead_of_join") + "\n"
    assert "print(n)" in one(GEVENT, "print_without_flush")
    assert "[worker(n) for n in range(1, 6)]" in one(GEVENT, "spawn_inline")
    assert "_g.join()" in one(GEVENT, "join_right_after_spawn")
    threads = one(GEVENT, "thread_per_connection")
    assert "import threading" in threads
    assert "threading.Thread(target=worker, args=(n,), daemon=True)" in threads
    assert "monkey.patch_all()" in threads.split("import threading")[0]  # after the patch, not before


def test_generic_operators():
    negated = mutants_of(SERVER, "negate_condition")
    assert any("if data:" in m for m in negated.values())
    assert any("if not s is sk:" in m for m in negated.values())
    deleted = mutants_of(GEVENT, "delete_statement")
    assert not any("import" in d for d in deleted), "imports are left alone"
    assert any("time.sleep(0.5) deleted" in d for d in deleted)
    swapped = mutants_of(SERVER, "break_continue_swapped")
    assert len(swapped) == 1
    assert "break" in next(iter(swapped.values()))
    numbers = mutants_of(GEVENT, "number_off_by_one")
    assert any("range(1, 5)" in m for m in numbers.values())
    assert any("sleep(1.5)" in m for m in numbers.values())
    assert not any("listen(127)" in m for m in mutants_of(SERVER, "number_off_by_one").values())
    assert any("print(n, flush=True)\n    gevent.sleep(0)\n    time.sleep(0.5)" in m
               for m in mutants_of(GEVENT, "statements_swapped").values())


def test_operator_selection():
    assert operators.names(None) == list(OPERATORS)
    assert set(operators.names("generic")) == GENERIC
    assert "negate_condition" not in operators.names("course")
    assert operators.names("close_dropped, close_dropped,select_timeout_zero") == ["close_dropped",
                                                                                 "select_timeout_zero"]
    with pytest.raises(ValueError, match="nope"):
        operators.names("close_dropped,nope")


def test_duplicates_and_trivial_equivalents_are_removed_before_grading():
    gen = generate(SERVER, ["close_without_parens", "close_dropped", "delete_statement"])
    ids = [m.id for m in gen.mutants]
    assert ids[0].startswith("close_without_parens-")
    # `s.close` without the parentheses does nothing: the same program as the deleted call
    assert any(r.operator == "close_dropped" and r.same_as == ids[0] for r in gen.duplicates)
    assert any(r.operator == "delete_statement" and "s.close()" in r.description for r in gen.duplicates)
    assert len({m.fingerprint for m in gen.mutants}) == len(gen.mutants)
    # a loop over a name that does nothing is no statement at all: the dropped join = the deleted loop
    loop = "gs = [1]\nfor g in gs:\n    g.join()\nprint(1)\n"
    gen = generate(loop, ["join_dropped", "delete_statement"])
    assert [m.operator for m in gen.mutants].count("join_dropped") == 1
    assert any(r.operator == "delete_statement" and "for g in gs" in r.description for r in gen.duplicates)


def test_a_mutant_equal_to_the_original_is_trivial_and_ids_are_unique():
    gen = generate("x = 1\nx\nprint(x)\n", ["delete_statement"])  # deleting the bare `x` changes nothing
    assert [r.same_as for r in gen.trivial] == ["original"]
    gen = generate(GEVENT, list(OPERATORS))
    assert len({m.id for m in gen.mutants}) == len(gen.mutants)
    assert all(m.diff.startswith("--- a/server.py") for m in gen.mutants)


def test_a_mutant_that_does_not_compile_is_stillborn(monkeypatch):
    def continue_outside_loop(tree):
        """`continue` where no loop is."""
        tree.body.append(ast.Continue())
        try:
            yield "continue appended"
        finally:
            tree.body.pop()

    monkeypatch.setitem(OPERATORS, "continue_outside_loop", continue_outside_loop)
    gen = generate("x = 1\n", ["continue_outside_loop"])
    assert gen.mutants[0].stillborn.startswith("SyntaxError")


# --- accounting -----------------------------------------------------------------------------------------

def _result(student: str, failed: dict[str, str] | None = None, stage: str | None = None,
            errors: tuple[str, ...] = ()) -> SubmissionResult:
    spec = spec_of("select_server")
    failed = failed or {}
    bs = []
    for b in spec.behaviours:
        status = "error" if b.id in errors else "failed" if b.id in failed else "passed"
        bs.append(BehaviourResult(id=b.id, check=b.check, status=status, reason=failed.get(b.id, ""),
                                  score=0.0 if status != "passed" else b.points, max_score=b.points,
                                  evidence={"stage": stage} if stage and b.id in failed else {}))
    return SubmissionResult(assignment="select_server", submission="x", student=student, behaviours=bs)


def _outcome(review_entries=(), original_fails: dict[str, str] | None = None):
    spec = spec_of("select_server")
    gen = generate(SERVER, ["select_timeout_zero", "close_dropped", "connection_error_uncaught",
                            "recv_one_byte", "listen_backlog_one", "closed_kept_in_list"], "server.py")
    ids = [m.id for m in gen.mutants]
    running = [b.id for b in spec.behaviours if b.check != "uses"]
    results = {
        ORIGINAL: _result(ORIGINAL, original_fails),
        ids[0]: _result(ids[0], {"idle_cpu": "busy"}),
        ids[1]: _result(ids[1], {"no_leaks": "timeout"}),
        ids[2]: _result(ids[2], {"abrupt_disconnect": "crashed", "echo": "no_reply"}),
        ids[3]: _result(ids[3]),
        ids[4]: _result(ids[4], dict.fromkeys(running, "crashed"), stage="start"),
        # ids[5] not graded (an interrupted batch): left out
    }
    review = equivalent.Review({e.id: e for e in review_entries}, Path("equivalent-mutants.yaml"))
    return gen, classify(gen, spec, review, results)


def test_statuses_and_score():
    gen, out = _outcome()
    status = {v.mutant.id: v.status for v in out.verdicts}
    ids = [m.id for m in gen.mutants]
    assert [status[i] for i in ids[:5]] == ["killed", "timeout", "killed", "survived", "stillborn"]
    assert ids[5] not in status
    assert out.score == 75.0  # 3 of 4 counted (the stillborn one is left out)
    by_id = {v.mutant.id: v for v in out.verdicts}
    assert by_id[ids[2]].killed_by == ["echo", "abrupt_disconnect"]
    assert by_id[ids[1]].timed_out == ["no_leaks"]


def test_reviewed_equivalents_leave_the_score_and_stale_ones_are_named():
    gen, _ = _outcome()
    survivor = gen.mutants[3]
    good = equivalent.Entry(id=survivor.id, fingerprint=survivor.fingerprint, reason="byte-at-a-time echo")
    stale = equivalent.Entry(id=gen.mutants[0].id, fingerprint="0000000000", reason="was another change")
    gone = equivalent.Entry(id="close_dropped-L99", fingerprint="1", reason="the line moved")
    other = equivalent.Entry(id="negate_condition-L3", fingerprint="2", reason="an operator not asked for")
    _, out = _outcome([good, stale, gone, other])
    by_id = {v.mutant.id: v for v in out.verdicts}
    assert by_id[survivor.id].status == "equivalent"
    assert by_id[survivor.id].reason == "byte-at-a-time echo"
    assert by_id[gen.mutants[0].id].status == "killed"  # a stale entry is not applied
    assert out.score == 100.0
    assert any("close_dropped-L99" in s for s in out.stale)
    assert any("review it again" in s for s in out.stale)
    assert not any("negate_condition" in s for s in out.stale)


def test_a_behaviour_the_original_fails_kills_nothing():
    gen, out = _outcome(original_fails={"idle_cpu": "busy"})
    assert out.unreliable == ["idle_cpu"]
    assert {v.mutant.id: v.status for v in out.verdicts}[gen.mutants[0].id] == "survived"
    assert "the original itself fails idle_cpu" in report.terminal(out)


def test_equivalent_list_files(tmp_path):
    assert equivalent.load(tmp_path).entries == {}
    (tmp_path / equivalent.FILENAME).write_text("equivalent:\n  - id: a-L1\n    fingerprint: abc\n    reason: same\n")
    assert equivalent.load(tmp_path).entries["a-L1"].reason == "same"
    (tmp_path / equivalent.FILENAME).write_text("equivalent:\n  - id: a-L1\n    fingerprint: abc\n    raeson: x\n")
    with pytest.raises(SpecError, match=r"equivalent-mutants.yaml:4"):
        equivalent.load(tmp_path)


@pytest.mark.parametrize("assignment", ["gevent_join", "gevent_server", "nonblocking_server", "select_server",
                                        "threaded_server"])
def test_every_reviewed_equivalent_entry_matches_a_mutant_of_the_reference(assignment):
    spec = spec_of(assignment)
    review = equivalent.load(COURSE.assignments_path / assignment)
    gen = generate((REPO / "reference" / assignment / spec.entry).read_text(), list(OPERATORS), spec.entry)
    fingerprints = {m.id: m.fingerprint for m in gen.mutants}
    assert review.entries, f"{assignment} has no reviewed equivalent list"
    for e in review.entries.values():
        assert fingerprints.get(e.id) == e.fingerprint, f"{assignment}: stale entry {e.id}"
    distinct = len(gen.mutants) - len(review.entries)
    assert distinct >= 20, f"{assignment}: only {distinct} non-equivalent mutants"


# --- reports --------------------------------------------------------------------------------------------

def test_json_report_has_the_documented_shape():
    _, out = _outcome()
    data = json.loads(json.dumps(report.to_json(out)))
    assert data["assignment"] == "select_server"
    assert data["score"] == 75.0
    for m in data["mutants"]:
        assert {"id", "operator", "status", "killed_by", "diff"} <= set(m)
        assert m["status"] in ("killed", "survived", "equivalent", "stillborn", "timeout")
    survivor = next(m for m in data["mutants"] if m["status"] == "survived")
    assert survivor["should_catch"] == ["echo"]  # recv(1): the echo check models it
    assert {b["id"] for b in data["behaviours"]} == {b.id for b in spec_of("select_server").behaviours}


def test_kill_matrix_in_terminal_markdown_and_html():
    gen, out = _outcome()
    text = report.terminal(out)
    killed = gen.mutants[0].id
    row = next(line for line in text.splitlines() if line.startswith(killed))
    assert row.split()[1] == "killed"
    assert row.split()[2:].count("K") == 1
    assert "T" in next(line for line in text.splitlines() if line.startswith(gen.mutants[1].id)).split()[2:]
    assert f"SURVIVED {gen.mutants[3].id}" in text
    assert "+++ b/server.py" in text
    assert "mutation score 75%" in text
    md = report.markdown(out)
    assert "| mutant | operator | status | echo | concurrent_clients |" in md
    assert "```diff" in md
    assert "## Survivors" in md
    html = report.html(out)
    assert html.startswith("<!doctype html>")
    assert "<th class='b'>idle_cpu</th>" in html
    assert "&lt;" not in html.split("<body>")[0]


def test_reports_escape_what_they_show():
    gen, out = _outcome()
    out.verdicts[0].mutant.description = "<script>alert(1)</script> | `x`"
    out.verdicts[0].status = "survived"
    out.verdicts[0].killed_by = []
    assert "<script>" not in report.html(out)
    assert "<script>" not in report.markdown(out)


# --- the command ----------------------------------------------------------------------------------------

def grader(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader.cli", "--course", str(REPO / "grader.yaml"), *args],
                          capture_output=True, text=True, timeout=120)


def test_command_lists_operators_and_mutants_and_refuses_bad_input():
    listed = grader("mutants", "--list-operators")
    assert listed.returncode == 0
    assert "accepted_left_blocking" in listed.stdout
    assert "generic operators" in listed.stdout
    dry = grader("mutants", "select_server", "--dry-run", "--operators", "course")
    assert dry.returncode == 0
    assert "select_timeout_zero-L" in dry.stdout
    assert "delete_statement" not in dry.stdout
    bad = grader("mutants", "select_server", "--operators", "nope")
    assert bad.returncode == 2
    assert "unknown operator 'nope'" in bad.stderr
    assert "Traceback" not in bad.stderr
    bad = grader("mutants", "no_such_assignment")
    assert bad.returncode == 2
    assert "unknown assignment" in bad.stderr
    bad = grader("mutants", "select_server", "--reference", "/nonexistent/folder")
    assert bad.returncode == 2
    assert "no server.py" in bad.stderr


@pytest.mark.slow
def test_a_few_mutants_graded_through_the_real_sandbox(tmp_path):
    """Three course mistakes of select_server, and the original, graded by the batch backend: each killed by
    the behaviour made for it; a second run grades nothing (the journal)."""
    ops = "select_timeout_zero,connection_error_uncaught,closed_kept_in_list"
    args = ["mutants", "select_server", "--operators", ops, "--out", str(tmp_path / "out"), "--workers", "4",
            "--progress", "lines", "--json", str(tmp_path / "m.json"), "--min-score", "100", "--seed", "7"]
    first = grader(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    data = json.loads((tmp_path / "m.json").read_text())
    by_op = {m["operator"]: m for m in data["mutants"]}
    assert by_op["select_timeout_zero"]["status"] == "killed"
    assert "idle_cpu" in by_op["select_timeout_zero"]["killed_by"]
    assert "abrupt_disconnect" in by_op["connection_error_uncaught"]["killed_by"]
    assert by_op["closed_kept_in_list"]["status"] == "killed"
    assert data["score"] == 100.0
    for name in ("mutants.md", "mutants.html"):
        assert "select_timeout_zero-L" in (tmp_path / "out" / name).read_text()
    again = grader(*args)
    assert again.returncode == 0
    assert "grading" not in again.stderr


def test_min_score_gives_the_exit_code_and_every_report_is_written(monkeypatch, tmp_path, capsys):
    """The command around a graded outcome (the grading itself replaced): reports written, --min-score obeyed."""
    from grader import cli
    from grader.mutants import grade

    _, fixed = _outcome()  # score 75
    monkeypatch.setattr(grade, "grade_mutants", lambda *a, **k: fixed)
    base = ["--course", str(REPO / "grader.yaml"), "mutants", "select_server", "--out", str(tmp_path / "o"),
            "--json", str(tmp_path / "m.json"), "--progress", "none"]
    assert cli.main([*base, "--min-score", "90"]) == 1
    assert "below --min-score 90%" in capsys.readouterr().out
    assert cli.main([*base, "--min-score", "75"]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["score"] == 75.0
    for name in ("mutants.md", "mutants.html", "mutants.json"):
        assert (tmp_path / "o" / name).stat().st_size > 0


def test_an_equivalent_mutant_that_never_started_is_not_called_a_catch():
    gen, _ = _outcome()
    spec = spec_of("select_server")
    m = gen.mutants[4]  # graded as never getting going in _outcome
    entry = equivalent.Entry(id=m.id, fingerprint=m.fingerprint, reason="reviewed")
    _, out = _outcome([entry])
    v = next(v for v in out.verdicts if v.mutant.id == m.id)
    assert v.status == "equivalent"
    assert v.start_failure
    assert spec.kind == "server"
    assert report.false_alarms(out) == []
    assert "did not get going this time" in report.terminal(out)
