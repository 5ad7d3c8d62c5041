"""Shared helpers for the project's own tests: grade real programs, end to end, in real sandboxes."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from grader.results import SubmissionResult
from grader.sandbox import Tier, choose_sandbox
from grader.session.runner import SessionOptions, grade
from grader.spec import load_course, load_spec

REPO = Path(__file__).resolve().parent.parent
PROGRAMS = REPO / "tests" / "programs"
COURSE = load_course(REPO / "grader.yaml")


def spec_of(assignment: str):
    return load_spec(COURSE.assignments_path / assignment / "assignment.yaml")


def grade_program(assignment: str, folder: Path | str, **opts) -> SubmissionResult:
    """Grade `folder` (a path, or a name under tests/programs/<assignment>/) against `assignment`."""
    path = Path(folder)
    if not path.is_absolute():
        path = PROGRAMS / assignment / path
    opts.setdefault("tier", best_tier(opts.get("observe", "auto")))
    return grade(spec_of(assignment), path, COURSE, SessionOptions(**opts))


@functools.cache
def best_tier(observe: str = "auto") -> Tier:
    """The tier the suite grades in (per way of observing), chosen and proven once, as `grader grade` does."""
    return choose_sandbox(announce=False, observe=observe)


def by_id(result: SubmissionResult) -> dict:
    return {b.id: b for b in result.behaviours}


def failed_ids(result: SubmissionResult) -> set[str]:
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
