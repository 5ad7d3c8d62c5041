"""Contracts with the platforms: Gradescope (results.json, autograder zip, run_autograder), GitHub Classroom
(the runner result the grading reporter decodes and sums, the workflow file) and JUnit XML.

Everything runs offline in tmp_path: the exported run_autograder is run against a simulated /autograder
(AUTOGRADER_ROOT) with this project's interpreter, setup.sh is only syntax-checked, the wheel is installed
with --no-index.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import jsonschema
import psutil
import pytest
import yaml

from grader.errors import UsageError
from grader.export.classroom import export_classroom
from grader.export.gradescope import export_gradescope
from grader.reporters.classroom import encode, error_result, step_summary, to_classroom
from grader.reporters.gradescope import to_gradescope
from grader.results import BehaviourResult, Event, SubmissionResult
from grader.spec import load_course, load_spec

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "gradescope_results.schema.json").read_text())
GRADER = [sys.executable, "-m", "grader.cli"]
SCRATCH = Path(tempfile.mkdtemp(prefix="grader-integration-tests-"))
ASSIGNMENT = "echo_up"

SPEC = """\
title: Upper-case echo (integration tests)
entry: server.py
kind: server
address: 127.0.0.1:9000
behaviours:
  - id: echo
    check: echo
    title: echoes every message upper-cased
    points: 2
    params: {sizes: [5, 100]}
  - id: single_thread
    check: single_thread
    title: one process, one thread
    points: 1
    visibility: after_due_date
    params: {clients: 3}
  - id: uses_select
    check: uses
    title: waits for readiness with select
    points: 1.5
    visibility: hidden
    params:
      any_of: [select.select, select.poll, select.epoll, "selectors.*Selector"]
      requirement: readiness notification through select or selectors
"""

SELECT_SERVER = """\
import select
import socket

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 9000))
srv.listen()
srv.setblocking(False)
socks = [srv]
while True:
    readable, _, _ = select.select(socks, [], [])
    for s in readable:
        if s is srv:
            conn, _ = srv.accept()
            socks.append(conn)
            continue
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        if data:
            s.sendall(data.upper())
        else:
            socks.remove(s)
            s.close()
"""

THREADED_SERVER = """\
import socket
import threading


def serve(conn):
    with conn:
        while data := conn.recv(4096):
            conn.sendall(data.upper())


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 9000))
srv.listen()
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""

NEVER_LISTENS = "import time\ntime.sleep(120)\n"
HOSTILE_OBSERVED = "got b'```'\n# not a heading\n```\nstill inside"  # text a server sent back
HOSTILE_STDERR = "Traceback ...\n````\nValueError: `boom`"


# --- fixtures -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def course_dir(tmp_path_factory) -> Path:
    """A small course: one assignment (visible, after_due_date and hidden behaviours), a reference."""
    root = tmp_path_factory.mktemp("course")
    (root / "grader.yaml").write_text("course: integration tests\ndefaults:\n  behaviour_timeout: 20\n")
    adir = root / "assignments" / ASSIGNMENT
    adir.mkdir(parents=True)
    (adir / "assignment.yaml").write_text(SPEC)
    (adir / "README.md").write_text("Notes for the assignment: files beside the spec travel with it.\n")
    (root / "reference" / ASSIGNMENT).mkdir(parents=True)
    (root / "reference" / ASSIGNMENT / "server.py").write_text(SELECT_SERVER)
    return root


@pytest.fixture(scope="module")
def course(course_dir):
    return load_course(course_dir / "grader.yaml")


@pytest.fixture(scope="module")
def spec(course_dir):
    return load_spec(course_dir / "assignments" / ASSIGNMENT / "assignment.yaml")


@pytest.fixture(scope="module")
def autograder_zip(course, spec, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "autograder.zip"
    export_gradescope(course, spec, out)
    return out


def submission(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def grader(*args: str, cwd: Path, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}  # even when run in Actions
    full.update(GRADER_SCRATCH=str(SCRATCH), **(env or {}))
    return subprocess.run([*GRADER, *args], capture_output=True, text=True, cwd=cwd, env=full, timeout=timeout,
                          check=False)


def survivors() -> list[str]:
    left = []
    for p in psutil.process_iter(["cmdline", "cwd"]):
        try:
            if str(SCRATCH) in " ".join(p.info["cmdline"] or []) + (p.info["cwd"] or ""):
                left.append(f"{p.pid} {p.info['cmdline']}")
        except psutil.Error:
            continue
    return left


def synthetic_result() -> SubmissionResult:
    """Passed, failed and errored behaviours with unequal points, every visibility, hostile text."""
    return SubmissionResult(
        assignment=ASSIGNMENT, title="Echo", submission="/x", tier="netns", grader_version="0.1.0",
        duration=3.2, behaviours=[
            BehaviourResult(id="echo", title="echoes", check="echo", status="passed", score=2, max_score=2,
                            seed=1, duration=0.25),
            BehaviourResult(id="concurrent", title="serves many", check="concurrent_clients", status="failed",
                            reason="no_reply", score=0, max_score=3, visibility="after_due_date",
                            summary="client 3 got no reply", expected="b'HI'",
                            observed=HOSTILE_OBSERVED,
                            hint="use select", seed=7, duration=2.5,
                            transcript=[Event(t=0.1, actor="client3", text="sent 2 B 'hi'")],
                            stderr_tail=HOSTILE_STDERR),
            BehaviourResult(id="idle", title="idles", check="idle_cpu", status="error", score=0, max_score=1.5,
                            visibility="hidden", summary="the grader itself failed", observed="OSError: x"),
            BehaviourResult(id="later", title="published", check="uses", status="passed", score=1,
                            max_score=1, visibility="after_published"),
        ])


def js_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def grading_reporter(runners: str, env: dict) -> dict:
    """What classroom-resources/autograding-grading-reporter@v1 (dist/main.js) computes from its env."""
    if not re.fullmatch(r"([a-zA-Z0-9]+,)*[a-zA-Z0-9]+", runners):
        raise AssertionError(f"runners {runners!r}: the reporter's error path rejects it")
    runs = []
    for runner in runners.split(","):
        encoded = env[f"{runner.strip().upper()}_RESULTS"]
        runs.append((runner, json.loads(base64.b64decode(encoded).decode("utf-8"))))
    total = maximum = 0
    console = {}
    for runner, r in runs:
        passed = sum(t["status"] == "pass" for t in r["tests"])
        console[runner] = f"{passed / len(r['tests']) * (r['max_score'] or 0):.2f}"  # ConsoleResults
        if not r["max_score"]:  # NotifyClassroom skips it
            continue
        maximum += r["max_score"]
        total += sum(t["score"] for t in r["tests"])
    notices = ([f"Points {js_number(total)}/{js_number(maximum)}",
                json.dumps({"totalPoints": total, "maxPoints": maximum})] if maximum else [])
    statuses = [r["status"] for _, r in runs]
    failed = ("Some tests failed." if "fail" in statuses else
              "Some tests errored." if "error" in statuses else None)
    return {"total": total, "max": maximum, "console": console, "notices": notices, "failed": failed}


# --- Gradescope results.json ----------------------------------------------------------------------------

def test_results_json_matches_gradescope_schema_and_keeps_visibility():
    data = to_gradescope(synthetic_result())
    jsonschema.validate(data, SCHEMA)
    assert isinstance(data["execution_time"], int)
    assert data["execution_time"] == 4
    assert data["score"] == 3
    assert data["output_format"] == "md"
    assert data["test_output_format"] == "md"
    assert [t["name"].split(":")[0] for t in data["tests"]] == ["echo", "concurrent", "idle", "later"]
    assert [t["visibility"] for t in data["tests"]] == ["visible", "after_due_date", "hidden", "after_published"]
    assert [t["status"] for t in data["tests"]] == ["passed", "failed", "failed", "passed"]
    assert all(t["output_format"] == "md" for t in data["tests"])
    failed = data["tests"][1]["output"]
    assert "grader check echo_up . --only concurrent --seed 7" in failed
    assert "Not graded: grader error" in data["tests"][2]["output"]
    # the summary counts only what students see now: no hint of the hidden/after_due_date results
    assert "1 of 1 behaviours shown here passed" in data["output"]
    assert "3 more behaviours" in data["output"]


def test_results_json_student_text_cannot_escape_its_code_fence():
    out = to_gradescope(synthetic_result())["tests"][1]["output"]
    for block in (HOSTILE_OBSERVED, HOSTILE_STDERR):
        i = out.index(block)
        fence = re.findall(r"(`{3,})text\n$", out[:i])[-1]
        assert len(fence) > max(len(r) for r in re.findall(r"`+", block)), fence
        assert out[i + len(block):].startswith("\n" + fence)


def test_schema_is_not_vacuous():
    good = to_gradescope(synthetic_result())
    for broken in ({**good, "execution_time": "3.20"}, {**good, "visibility": "secret"},
                   {**good, "tests": [{**good["tests"][0], "status": "error"}]},
                   {**good, "tests": [{**good["tests"][0], "visiblity": "hidden"}]},
                   {"tests": [{"name": "no score anywhere"}]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


# --- Classroom runner result ----------------------------------------------------------------------------

def test_classroom_result_decodes_and_sums_as_the_reporter_does():
    result = synthetic_result()
    runner = to_classroom(result)
    assert runner["version"] == 1
    assert runner["status"] == "error"
    assert runner["max_score"] == 7.5
    for t in runner["tests"]:
        assert set(t) == {"name", "status", "score", "message", "test_code", "filename", "line_no", "duration"}
        assert t["status"] in ("pass", "fail", "error")
        assert isinstance(t["duration"], int)
        assert t["line_no"] == 0  # the reporter prints " - line N" otherwise
    report = grading_reporter("grader", {"GRADER_RESULTS": encode(runner)})
    assert report["total"] == result.score == 3
    assert report["max"] == result.max_score == 7.5
    assert report["notices"][0] == "Points 3/7.5"
    assert json.loads(report["notices"][1]) == {"totalPoints": 3, "maxPoints": 7.5}
    # the reporter's console line weighs every test alike (reporter issue #10): 2 of 4 tests passed
    assert report["console"]["grader"] == "3.75"
    assert report["failed"] == "Some tests errored."
    assert "base64" not in encode(runner)
    assert "\n" not in encode(runner)


def test_classroom_all_passed_is_pass_and_equal_weights_agree_with_the_console():
    result = synthetic_result()
    result.behaviours = [b.model_copy(update={"status": "passed", "score": 1.0, "max_score": 1.0})
                         for b in result.behaviours]
    result.behaviours[1] = result.behaviours[1].model_copy(update={"status": "failed", "score": 0.0})
    report = grading_reporter("grader", {"GRADER_RESULTS": encode(to_classroom(result))})
    assert (report["total"], report["max"], report["console"]["grader"]) == (3, 4, "3.00")
    result.behaviours[1] = result.behaviours[1].model_copy(update={"status": "passed", "score": 1.0})
    runner = to_classroom(result)
    assert runner["status"] == "pass"
    assert grading_reporter("grader", {"GRADER_RESULTS": encode(runner)})["failed"] is None


def test_classroom_result_fits_in_one_environment_variable():
    """The reporter gets the base64 text through one env var; Linux refuses one over 128 KiB."""
    result = synthetic_result()
    big = result.behaviours[1]
    result.behaviours = [big.model_copy(update={"id": f"b{i}", "observed": "x" * 50_000, "hint": "h" * 5000})
                         for i in range(120)]
    encoded = encode(to_classroom(result))
    assert len(encoded) < 100_000
    report = grading_reporter("grader", {"GRADER_RESULTS": encoded})
    assert report["max"] == 360


def test_classroom_error_result_reports_nothing_and_fails():
    report = grading_reporter("grader", {"GRADER_RESULTS": encode(error_result("grader: spec error"))})
    assert report["notices"] == []
    assert report["failed"] == "Some tests errored."


def test_step_summary_is_markdown_with_every_behaviour():
    md = step_summary(synthetic_result())
    assert md.startswith("## Echo: 3/7.5 points")
    assert "| ✅ | `echo` echoes | 2/2 |" in md
    assert "| ❌ | `concurrent`" in md
    assert "| ⚠️ | `idle`" in md
    assert "official grade" in md


# --- grader check: --classroom, --results, --junitxml, end to end ------------------------------------------

def test_check_classroom_results_and_junitxml_from_one_run(course_dir, tmp_path):
    sub = submission(tmp_path / "threaded", {"server.py": THREADED_SERVER})
    out, summary = tmp_path / "github_output", tmp_path / "step_summary.md"
    proc = grader("--course", str(course_dir / "grader.yaml"), "check", ASSIGNMENT, str(sub), "--classroom",
                  "--results", "results.json", "--junitxml", "junit.xml", cwd=tmp_path,
                  env={"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 0, proc.stdout + proc.stderr  # graded: the reporter step fails the job
    printed = json.loads(proc.stdout)
    line = out.read_text().strip()
    assert line.startswith("result=")
    assert "\n" not in line
    assert json.loads(base64.b64decode(line[len("result="):])) == printed
    assert [(t["name"].split(":")[0], t["status"]) for t in printed["tests"]] == [
        ("echo", "pass"), ("single_thread", "fail"), ("uses_select", "fail")]
    report = grading_reporter("grader", {"GRADER_RESULTS": line[len("result="):]})
    assert (report["total"], report["max"]) == (2, 4.5)
    assert report["notices"][0] == "Points 2/4.5"
    assert report["console"]["grader"] == "1.50"
    assert report["failed"] == "Some tests failed."
    assert "FAIL  single_thread" in proc.stderr  # the explanation stays in the Actions log
    assert "## Upper-case echo (integration tests): 2/4.5 points" in summary.read_text()

    results = json.loads((tmp_path / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert [t["visibility"] for t in results["tests"]] == ["visible", "after_due_date", "hidden"]
    assert results["score"] == 2

    suite = ET.parse(tmp_path / "junit.xml").getroot()  # noqa: S314 - ours; relative path honoured
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"echo", "single_thread", "uses_select"}
    props = {name: {p.get("name"): p.get("value") for p in c.iter("property")} for name, c in cases.items()}
    assert props["echo"]["behaviour"] == "echo"
    assert float(props["echo"]["points"]) == 2
    assert float(props["echo"]["score"]) == 2
    assert props["echo"]["status"] == "passed"
    assert float(props["uses_select"]["points"]) == 1.5
    assert props["uses_select"]["visibility"] == "hidden"
    assert float(props["single_thread"]["score"]) == 0
    assert props["single_thread"]["status"] == "failed"
    assert cases["echo"].find("failure") is None
    assert cases["single_thread"].find("failure") is not None
    assert not survivors()


def test_check_classroom_spec_error_still_emits_an_error_result(tmp_path):
    bad = tmp_path / "bad" / "assignment.yaml"
    bad.parent.mkdir()
    bad.write_text("title: x\nentry: server.py\nkind: server\nbehaviours: []\n")
    out = tmp_path / "github_output"
    proc = grader("check", str(bad), str(tmp_path), "--classroom", cwd=tmp_path, env={"GITHUB_OUTPUT": str(out)})
    assert proc.returncode == 2
    assert "spec error" in proc.stderr
    runner = json.loads(base64.b64decode(out.read_text().strip()[len("result="):]))
    assert runner["status"] == "error"
    assert "spec error" in runner["tests"][0]["message"]


# --- Gradescope export: the zip --------------------------------------------------------------------------

def test_gradescope_zip_layout(autograder_zip, course_dir, course, spec, tmp_path):
    zf = zipfile.ZipFile(autograder_zip)
    names = set(zf.namelist())
    wheel = next(n for n in names if n.startswith("wheels/grader-") and n.endswith("-py3-none-any.whl"))
    assert {"setup.sh", "run_autograder", "grader_autograder.py", "autograder.json", "grader.yaml",
            f"assignments/{ASSIGNMENT}/assignment.yaml", f"assignments/{ASSIGNMENT}/README.md",
            "constraints.txt", wheel} == names
    for name in ("setup.sh", "run_autograder"):
        assert (zf.getinfo(name).external_attr >> 16) & 0o111, f"{name} is not executable"
        assert zf.read(name).startswith(b"#!/usr/bin/env bash\n")
        extracted = tmp_path / name
        extracted.write_bytes(zf.read(name))
        assert subprocess.run(["bash", "-n", str(extracted)], capture_output=True).returncode == 0
    reference = (course_dir / "reference" / ASSIGNMENT / "server.py").read_bytes()
    assert all(zf.read(n) != reference and b"select.select(socks" not in zf.read(n) for n in names
               if not n.endswith(".whl"))
    config = json.loads(zf.read("autograder.json"))
    assert config["entry"] == "server.py"
    assert config["run_as"] == "student"
    assert config["max_score"] == 4.5
    assert [(b["id"], b["visibility"]) for b in config["behaviours"]] == [
        ("echo", "visible"), ("single_thread", "after_due_date"), ("uses_select", "hidden")]
    pins = zf.read("constraints.txt").decode()
    assert re.search(r"(?m)^pydantic==\d", pins)
    assert re.search(r"(?m)^gevent==\d", pins)
    # reproducible: the same inputs give the same bytes (so instructors can tell whether to re-upload)
    again = tmp_path / "again.zip"
    export_gradescope(course, spec, again)
    assert again.read_bytes() == autograder_zip.read_bytes()


def test_gradescope_wheel_installs_offline_and_is_complete(autograder_zip, tmp_path):
    zf = zipfile.ZipFile(autograder_zip)
    name = next(n for n in zf.namelist() if n.endswith(".whl"))
    whl = tmp_path / Path(name).name
    whl.write_bytes(zf.read(name))
    wz = zipfile.ZipFile(whl)
    files = set(wz.namelist())
    for needed in ("grader/cli.py", "grader/session/pytest.ini", "grader/sandbox/standalone/launch.py",
                   "grader/sandbox/standalone/site/sitecustomize.py",
                   "grader/export/templates/run_autograder", "grader/export/templates/classroom.yml"):
        assert needed in files, needed
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)
    record = next(f for f in files if f.endswith(".dist-info/RECORD"))
    for row in wz.read(record).decode().splitlines():
        path, digest, size = row.rsplit(",", 2)
        if digest:
            data = wz.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={expected}", path
            assert int(size) == len(data), path
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                          "--disable-pip-version-check", "--target", str(target), str(whl)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert pip.returncode == 0, pip.stderr
    assert (target / "bin" / "grader").is_file()
    probe = subprocess.run([sys.executable, "-c", "import grader.cli, grader; print(grader.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=False,
                           env=dict(os.environ, PYTHONPATH=str(target)))
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith(str(target)), probe.stdout
    meta = next(f for f in files if f.endswith(".dist-info/METADATA"))
    assert "Requires-Dist: pydantic" in wz.read(meta).decode()


def test_export_refuses_reference_solutions(course_dir, course, spec, tmp_path):
    sneaky = course_dir / "assignments" / ASSIGNMENT / "solution.py"
    sneaky.write_text(SELECT_SERVER)  # a reference solution copied next to the spec by mistake
    try:
        with pytest.raises(UsageError, match="reference solution"):
            export_gradescope(course, spec, tmp_path / "a.zip")
        with pytest.raises(UsageError, match="reference solution"):
            export_classroom(course, spec, tmp_path / "repo")
        assert not (tmp_path / "a.zip").exists()
        assert not (tmp_path / "repo").exists()
    finally:
        sneaky.unlink()


def test_export_command_line(course_dir, tmp_path):
    proc = grader("--course", str(course_dir / "grader.yaml"), "export", "gradescope", ASSIGNMENT, "-o",
                  "ag.zip", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert zipfile.ZipFile(tmp_path / "ag.zip").getinfo("run_autograder")
    assert "not shown to students right away" in proc.stdout
    proc = grader("--course", str(course_dir / "grader.yaml"), "export", "gradescope", "nope", cwd=tmp_path)
    assert proc.returncode == 2
    assert "unknown assignment" in proc.stderr


# --- Gradescope export: run_autograder against a simulated /autograder ------------------------------------

def autograder_root(tmp_path: Path, zip_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "results").mkdir()
    zipfile.ZipFile(zip_path).extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")  # as Gradescope does
    (root / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    submission(root / "submission", files)
    return root


def run_autograder(root: Path, path: str | None = None, **env: str) -> dict:
    base = {"PATH": path or f"{Path(sys.executable).parent}:/usr/bin:/bin", "AUTOGRADER_ROOT": str(root),
            "GRADER_VENV": "/nonexistent", "GRADER_RUN_AS": "", "HOME": str(root),
            "GRADER_SCRATCH": str(SCRATCH)}
    proc = subprocess.run([str(root / "run_autograder")], capture_output=True, text=True, cwd=root,
                          env={**base, **env}, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert isinstance(data["execution_time"], int)
    data["_stdout"] = proc.stdout
    return data


def scores(data: dict) -> list[tuple[str, float, float, str]]:
    return [(t["name"].split(":")[0], t["score"], t["max_score"], t["visibility"]) for t in data["tests"]]


def test_run_autograder_grades_a_correct_submission(autograder_zip, tmp_path):
    data = run_autograder(autograder_root(tmp_path, autograder_zip, {"server.py": SELECT_SERVER}))
    assert scores(data) == [("echo", 2, 2, "visible"), ("single_thread", 1, 1, "after_due_date"),
                            ("uses_select", 1.5, 1.5, "hidden")]
    assert data["score"] == 4.5
    assert "Total: 4.5/4.5" in data["_stdout"]
    assert data["stdout_visibility"] == "hidden"


def test_run_autograder_grades_the_folder_a_student_uploaded(autograder_zip, tmp_path):
    data = run_autograder(autograder_root(tmp_path, autograder_zip, {"hw1/server.py": THREADED_SERVER,
                                                                      "hw1/notes.txt": "x"}))
    assert scores(data) == [("echo", 2, 2, "visible"), ("single_thread", 0, 1, "after_due_date"),
                            ("uses_select", 0, 1.5, "hidden")]
    assert "`hw1/`" in data["output"]
    assert "was graded" in data["output"]
    assert not survivors()


def test_run_autograder_missing_entry_is_a_clear_failure(autograder_zip, tmp_path):
    data = run_autograder(autograder_root(tmp_path, autograder_zip, {"Server.PY.txt": "print('hi')\n"}))
    assert [(t["name"].split(":")[0], t["status"]) for t in data["tests"]] == [
        ("echo", "failed"), ("single_thread", "failed"), ("uses_select", "failed")]
    assert "**`server.py` is missing from your upload**" in data["output"]
    assert "`Server.PY.txt`" in data["output"]
    assert "server.py is missing" in data["tests"][0]["output"]
    assert [t["max_score"] for t in data["tests"]] == [2, 1, 1.5]


def test_run_autograder_survives_a_broken_spec(autograder_zip, tmp_path):
    root = autograder_root(tmp_path, autograder_zip, {"server.py": SELECT_SERVER})
    spec = root / "source" / "assignments" / ASSIGNMENT / "assignment.yaml"
    spec.write_text(spec.read_text() + "  - id: broken\n")  # the grader exits 2 with a spec error
    data = run_autograder(root)
    first = data["tests"][0]
    assert first["name"].startswith("autograder_error")
    assert first["status"] == "failed"
    assert "spec error" in first["output"]
    assert "not with your code" in first["output"]
    assert scores(data)[1:] == [("echo", 0, 2, "visible"), ("single_thread", 0, 1, "after_due_date"),
                                ("uses_select", 0, 1.5, "hidden")]
    assert data["score"] == 0
    assert "missing required key" in data["_stdout"]


def test_run_autograder_survives_a_grader_that_cannot_be_imported(autograder_zip, tmp_path):
    shadow = tmp_path / "shadow" / "grader"  # first on the path: a grader package that fails to import
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('simulated: a broken grader installation')\n")
    data = run_autograder(autograder_root(tmp_path, autograder_zip, {"server.py": SELECT_SERVER}),
                          PYTHONPATH=str(shadow.parent))
    assert data["tests"][0]["name"].startswith("autograder_error")
    assert data["score"] == 0
    assert "simulated: a broken grader installation" in data["_stdout"]


def test_run_autograder_without_any_python_still_writes_results(autograder_zip, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("mkdir", "rm", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    root = autograder_root(tmp_path, autograder_zip, {"server.py": SELECT_SERVER})
    proc = subprocess.run(["/bin/bash", str(root / "run_autograder")], capture_output=True, text=True,
                          env={"PATH": str(bin_dir), "AUTOGRADER_ROOT": str(root), "GRADER_VENV": "/nonexistent"},
                          timeout=30, check=False)
    assert proc.returncode == 0
    assert "no Python found" in proc.stdout
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["tests"][0]["status"] == "failed"
    assert "autograder" in data["output"]


def test_run_autograder_time_limit_kills_grading_and_reports_it(autograder_zip, tmp_path):
    t0 = time.monotonic()
    data = run_autograder(autograder_root(tmp_path, autograder_zip, {"server.py": NEVER_LISTENS}),
                          GRADER_TIME_LIMIT="1.5")
    assert time.monotonic() - t0 < 15
    assert "Grading took longer than 2 s" in data["tests"][0]["output"]
    assert [t["max_score"] for t in data["tests"][1:]] == [2, 1, 1.5]
    deadline = time.monotonic() + 5
    while survivors() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not survivors()


def test_run_autograder_refuses_to_grade_as_root_without_the_student_user(autograder_zip, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the unprivileged user only matters when grading as root")
    data = run_autograder(autograder_root(tmp_path, autograder_zip, {"server.py": SELECT_SERVER}),
                          GRADER_RUN_AS="grader-no-such-user")
    assert data["tests"][0]["name"].startswith("autograder_error")
    assert "does not exist" in data["tests"][0]["output"]


# --- Classroom export: the workflow ----------------------------------------------------------------------

def workflow_of(repo: Path) -> dict:
    return yaml.safe_load((repo / ".github" / "workflows" / "classroom.yml").read_text())


def test_classroom_workflow_has_what_classroom_needs(course, spec, tmp_path):
    repo = tmp_path / "template"
    export = export_classroom(course, spec, repo)
    wf = workflow_of(repo)
    assert wf["name"] == "Autograding Tests"
    assert set(wf["on"]) == {"push", "repository_dispatch", "workflow_dispatch"}  # 'on' quoted: not YAML true
    assert wf["permissions"] == {"checks": "write", "actions": "read", "contents": "read"}
    job = wf["jobs"]["run-autograding-tests"]
    assert job["if"] == "github.actor != 'github-classroom[bot]'"
    steps = job["steps"]
    grade = next(s for s in steps if "id" in s)
    reporter = steps[-1]
    assert re.fullmatch(r"[a-zA-Z0-9]+", grade["id"])  # no hyphen: the reporter's error path rejects it
    assert f"check {ASSIGNMENT} . --classroom" in grade["run"]
    assert reporter["uses"] == "classroom-resources/autograding-grading-reporter@v1"
    assert reporter["with"] == {"runners": grade["id"]}
    assert reporter["env"] == {f"{grade['id'].upper()}_RESULTS": f"${{{{ steps.{grade['id']}.outputs.result }}}}"}
    install = next(s for s in steps if s.get("name") == "Install the grader")["run"]
    wheel = re.search(r"\.github/grader/grader-[^ ]+\.whl", install).group(0)
    assert (repo / wheel).is_file()
    assert "-c .github/grader/constraints.txt" in install
    # Classroom cannot hide anything: behaviours not visible to students stay out of their repository
    copied = load_spec(repo / ".github" / "grader" / "assignments" / ASSIGNMENT / "assignment.yaml")
    assert [b.id for b in copied.behaviours] == ["echo"]
    assert any("single_thread, uses_select" in n for n in export.notes)
    assert (repo / ".github" / "grader" / "assignments" / ASSIGNMENT / "README.md").is_file()
    assert not any((repo / ".github").rglob("server.py"))


def test_classroom_export_install_option_and_overwrite_rules(course, spec, tmp_path):
    repo = tmp_path / "template"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "classroom.yml").write_text("name: made in the Classroom GUI\n")
    with pytest.raises(UsageError, match="--force"):
        export_classroom(course, spec, repo)
    req = "grader @ git+https://github.com/example/grader@v0.1.0#egg=grader"
    export_classroom(course, spec, repo, install=req, force=True, include_hidden=True)
    steps = workflow_of(repo)["jobs"]["run-autograding-tests"]["steps"]
    install = next(s for s in steps if s.get("name") == "Install the grader")["run"]
    assert f"'{req}'" in install
    assert not list((repo / ".github" / "grader").glob("*.whl"))
    copied = load_spec(repo / ".github" / "grader" / "assignments" / ASSIGNMENT / "assignment.yaml")
    assert [b.id for b in copied.behaviours] == ["echo", "single_thread", "uses_select"]
    export_classroom(course, spec, repo, install=req)  # ours now: re-exporting needs no --force


def test_classroom_workflow_commands_run_and_feed_the_reporter(course, spec, tmp_path):
    """Run the workflow's own grading command in a student repository, then the reporter on its output."""
    repo = submission(tmp_path / "student-repo", {"server.py": THREADED_SERVER})
    export_classroom(course, spec, repo, include_hidden=True)
    steps = workflow_of(repo)["jobs"]["run-autograding-tests"]["steps"]
    grade = next(s for s in steps if "id" in s)
    argv = grade["run"].split()
    assert argv[0] == "grader"
    out = tmp_path / "github_output"
    proc = grader(*argv[1:], cwd=repo, env={"GITHUB_OUTPUT": str(out)})
    assert proc.returncode == 0, proc.stderr
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    reporter = steps[-1]
    env_name, value = next(iter(reporter["env"].items()))
    assert value == f"${{{{ steps.{grade['id']}.outputs.result }}}}"
    report = grading_reporter(reporter["with"]["runners"], {env_name: outputs["result"]})
    assert (report["total"], report["max"]) == (2, 4.5)
    assert report["notices"] == ["Points 2/4.5", json.dumps({"totalPoints": 2, "maxPoints": 4.5})]
