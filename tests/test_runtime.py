"""The interpreter submissions run with (grader/runtime.py): the student runtime `make setup` builds beside the
grader, or the grader's own interpreter; a runtime that does not match the grader stops grading with the fix."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import runtime
from grader.errors import UsageError
from grader.sandbox import Launch, Limits, choose_sandbox

REPO = Path(__file__).resolve().parent.parent
BUILT = runtime.default_dir()  # what `make setup` built, if it could


def fake_runtime(root: Path, python: str = platform.python_version(), **versions: str) -> Path:
    """A venv-shaped folder: pyvenv.cfg, bin/python, and dist-info folders at the given versions (the grader's
    own versions unless overridden)."""
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").symlink_to(sys.executable)
    (root / "pyvenv.cfg").write_text(f"home = /nowhere\nversion = {python}\n")
    site = root / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    for name, version in {**runtime.closure(), **versions}.items():
        info = site / f"{name.replace('.', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return root


def test_gevent_and_what_it_needs_at_the_graders_versions():
    wanted = runtime.closure()
    assert wanted["gevent"] == __import__("gevent").__version__
    assert {"greenlet", "zope.event", "zope.interface"} <= set(wanted)
    assert "pytest" not in wanted  # nothing of the grader's own


def test_without_a_runtime_submissions_run_with_the_graders_interpreter(tmp_path):
    rt = runtime.find(tmp_path / "student", env={})
    assert (rt.python, rt.own) == (sys.executable, True)
    assert "no student runtime" in rt.why


def test_a_matching_runtime_is_used(tmp_path):
    venv = fake_runtime(tmp_path / "student")
    rt = runtime.find(venv, env={})
    assert (rt.python, rt.venv) == (str(venv / "bin" / "python"), venv)


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"gevent": "1.0"}, "it has gevent 1.0, the grader has"),
    ({"python": "3.9.1"}, "its Python is 3.9.1, the grader's is"),
])
def test_a_runtime_that_does_not_match_is_an_error_naming_the_difference_and_the_fix(tmp_path, kwargs, says):
    venv = fake_runtime(tmp_path / "student", **kwargs)
    with pytest.raises(UsageError, match="does not match the grader") as err:
        runtime.find(venv, env={})
    assert says in str(err.value)
    assert "python -m grader.runtime create" in str(err.value)


def test_a_runtime_missing_a_package_is_an_error(tmp_path):
    venv = fake_runtime(tmp_path / "student")
    for info in venv.glob("lib/*/site-packages/greenlet-*.dist-info"):
        (info / "METADATA").unlink()
        info.rmdir()
    with pytest.raises(UsageError, match=r"it has greenlet \(none\)"):
        runtime.find(venv, env={})


def test_the_environment_variable_names_one_explicitly_and_is_checked_too(tmp_path):
    good = fake_runtime(tmp_path / "good")
    assert runtime.find(tmp_path / "absent", env={runtime.ENV: str(good / "bin" / "python")}).venv == good
    bad = fake_runtime(tmp_path / "bad", gevent="1.0")
    with pytest.raises(UsageError, match=f"{runtime.ENV}=.* cannot run submissions: it has gevent 1.0"):
        runtime.find(tmp_path / "absent", env={runtime.ENV: str(bad / "bin" / "python")})


def test_create_refuses_a_folder_that_is_not_a_venv(tmp_path):
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="is not a virtual environment"):
        runtime.create(tmp_path / "project")
    assert (tmp_path / "project" / "keep.txt").read_text() == "mine"


@pytest.mark.slow
def test_a_mismatched_runtime_stops_grader_check_with_a_clear_message(tmp_path):
    bad = fake_runtime(tmp_path / "bad", gevent="1.0")
    env = dict(os.environ, **{runtime.ENV: str(bad / "bin" / "python")})
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "check", "gevent_join", "reference/gevent_join"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "cannot run submissions: it has gevent 1.0, the grader has" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(not BUILT.exists(), reason="no student runtime was built (make setup builds it)")
def test_submissions_run_in_the_runtime_make_setup_built_and_see_only_its_packages(tmp_path):
    assert runtime.mismatch(BUILT) is None
    assert runtime.student_python() == str(BUILT / "bin" / "python")
    (tmp_path / "server.py").write_text(
        "import sys, importlib.util\n"
        "import gevent\n"
        "print(sys.prefix, gevent.__version__, importlib.util.find_spec('pytest') is None, flush=True)\n"
        "import time; time.sleep(30)\n")
    os.chmod(tmp_path, 0o755)  # noqa: S103 - the sandbox's uid must read the program
    run = choose_sandbox(announce=False).start(Launch(tmp_path, "server.py", None, Limits()))
    try:
        deadline = time.monotonic() + 20
        while not run.stdout.text().strip() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        run.stop()
    prefix, version, no_pytest = run.stdout.text().split()
    assert Path(prefix).name == "student"
    assert version == runtime.closure()["gevent"]
    assert no_pytest == "True"  # the grader's own packages are not there for submissions to lean on


@pytest.mark.slow
def test_the_results_say_which_interpreter_the_submission_ran_with():
    from grader.session.runner import SessionOptions, grade
    from grader.spec import load_course, load_spec

    course = load_course(REPO / "grader.yaml")
    spec = load_spec(course.assignments_path / "gevent_join" / "assignment.yaml")
    first = spec.behaviours[0].id
    result = grade(spec, REPO / "reference" / "gevent_join", course, SessionOptions(only=(first,)))
    assert result.python == runtime.current().label
    assert result.python.startswith(platform.python_version() + ", ")
    assert result.python.endswith("student runtime" if BUILT.exists() else "the grader's own")


def test_distribution_names_compare_as_pep_503_says(tmp_path):
    venv = fake_runtime(tmp_path / "student")
    for meta in venv.glob("lib/*/site-packages/zope_interface-*.dist-info/METADATA"):
        meta.write_text(meta.read_text().replace("Name: zope.interface", "Name: Zope_Interface"))
    assert runtime.mismatch(venv) is None
