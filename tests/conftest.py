"""Shared helpers for the project's own tests: grade real programs, end to end, in real sandboxes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.results import RunResult
from grader.session.runner import RunOptions, grade
from grader.spec import load_course, load_spec

REPO = Path(__file__).resolve().parent.parent
PROGRAMS = REPO / "tests" / "programs"
COURSE = load_course(REPO / "grader.yaml")


def spec_of(assignment: str):
    return load_spec(COURSE.assignments_path / assignment / "assignment.yaml")


def grade_program(assignment: str, folder: Path | str, **opts) -> RunResult:
    """Grade `folder` (a path, or a name under tests/programs/<assignment>/) against `assignment`."""
    path = Path(folder)
    if not path.is_absolute():
        path = PROGRAMS / assignment / path
    return grade(spec_of(assignment), path, COURSE, RunOptions(**opts))


def by_id(result: RunResult) -> dict:
    return {b.id: b for b in result.behaviours}


def failed_ids(result: RunResult) -> set[str]:
    return {b.id for b in result.behaviours if not b.passed}


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test depends on the caller's cwd, pytest settings or locale (`grader check` reads the language from
    LANGUAGE/LC_ALL/LC_MESSAGES/LANG); each starts in English, the default."""
    from grader import i18n

    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.chdir(tmp_path)
    i18n.use(i18n.DEFAULT)
