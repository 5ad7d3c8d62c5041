"""setup.sh of the Gradescope zip on images that differ the way real ones do (fast: stub commands only).

Found in the real container (benchmarks/container): an image with `python3.11` but without its `venv`
module (Debian and Ubuntu ship it apart, as python3.X-venv; Gradescope's images have python3 without it)
made setup.sh fail with "ensurepip is not available". Here apt-get and the interpreters are small shell
stubs on PATH, so each image is simulated in milliseconds; the stub interpreter stops the script where it
would create the virtual environment, and the test reads which interpreter got there and what apt installed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from grader.export import template

BASH = "/bin/bash"

APT_GET = """#!/bin/sh
echo "apt-get $*" >> "$STATE/apt.log"
[ "$1" = install ] || exit 0
shift
for pkg in "$@"; do
    case "$pkg" in -*) continue ;; esac
    if [ -e "$STATE/available-$pkg" ]; then /usr/bin/touch "$STATE/installed-$pkg"; else exit 100; fi
done
"""

# A python that "has venv" once its -venv package is installed (or was there from the start); it records
# `-m venv` and stops the script there (setup.sh runs with set -e).
PYTHON = """#!/bin/sh
me=$(/usr/bin/basename "$0")
if [ "$1" = -c ] && [ "$2" = "import ensurepip, venv" ]; then
    [ -e "$STATE/installed-$me-venv" ] && exit 0
    [ "$me" = python3 ] && [ -e "$STATE/installed-python3-venv" ] && exit 0
    exit 1
fi
if [ "$1" = -m ] && [ "$2" = venv ]; then echo "$me" > "$STATE/venv-by"; exit 42; fi
if [ "$1" = --version ]; then echo "Python (stub $me)"; fi
exit 0
"""


def render_setup(tmp_path: Path) -> Path:
    path = tmp_path / "setup.sh"
    path.write_text(template("setup.sh", assignment="select_server", version="0", python="3.11", run_as="student"))
    return path


def image(tmp_path: Path, *, interpreters=(), installed=(), available=()) -> tuple[Path, Path]:
    """A PATH with stub apt-get and interpreters; the packages already installed and those apt can get."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    (bin_dir / "apt-get").write_text(APT_GET)
    (bin_dir / "apt-get").chmod(0o755)
    for name in interpreters:
        (bin_dir / name).write_text(PYTHON)
        (bin_dir / name).chmod(0o755)
    for pkg in installed:
        (state / f"installed-{pkg}").touch()
    for pkg in available:
        (state / f"available-{pkg}").touch()
    return bin_dir, state


def run_setup(tmp_path: Path, bin_dir: Path, state: Path) -> subprocess.CompletedProcess:
    env = {"PATH": str(bin_dir), "STATE": str(state), "AUTOGRADER_ROOT": str(tmp_path / "ag"),
           "GRADER_VENV": str(tmp_path / "venv")}
    return subprocess.run([BASH, str(render_setup(tmp_path))], env=env, capture_output=True, text=True,
                          timeout=30)


def venv_made_by(state: Path) -> str | None:
    f = state / "venv-by"
    return f.read_text().strip() if f.exists() else None


def apt_log(state: Path) -> str:
    f = state / "apt.log"
    return f.read_text() if f.exists() else ""


@pytest.fixture(autouse=True)
def _needs_bash():
    if not Path(BASH).is_file():
        pytest.skip("setup.sh is a bash script")


def test_interpreter_without_venv_gets_its_venv_package(tmp_path):
    bin_dir, state = image(tmp_path, interpreters=["python3.11", "python3"],
                           available=["ca-certificates", "bubblewrap", "python3.11", "python3.11-venv"])
    proc = run_setup(tmp_path, bin_dir, state)
    assert "python3.11-venv" in apt_log(state), proc.stderr
    assert venv_made_by(state) == "python3.11", proc.stderr


def test_interpreter_with_venv_installs_no_python(tmp_path):
    bin_dir, state = image(tmp_path, interpreters=["python3.11"], installed=["python3.11-venv"],
                           available=["ca-certificates", "bubblewrap"])
    proc = run_setup(tmp_path, bin_dir, state)
    assert "python3.11" not in apt_log(state)
    assert venv_made_by(state) == "python3.11", proc.stderr


def test_missing_version_falls_back_to_python3_and_says_so(tmp_path):
    bin_dir, state = image(tmp_path, interpreters=["python3"],
                           available=["ca-certificates", "bubblewrap", "python3", "python3-venv"])
    proc = run_setup(tmp_path, bin_dir, state)
    assert venv_made_by(state) == "python3", proc.stderr
    assert "python3.11 is not available on this image; using Python (stub python3)" in proc.stderr


def test_no_python_with_venv_is_a_clear_build_error(tmp_path):
    bin_dir, state = image(tmp_path, interpreters=["python3"], available=["ca-certificates"])
    proc = run_setup(tmp_path, bin_dir, state)
    assert proc.returncode == 1
    assert venv_made_by(state) is None
    assert "no Python with the venv module on this image" in proc.stderr
