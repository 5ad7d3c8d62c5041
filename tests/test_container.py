"""The Gradescope flow, end to end, in a real container (benchmarks/container/rig.py).

The slow tests build container images (about a minute and a half the first time, then cached), so they run
only when asked: GRADER_CONTAINER_TESTS=1, as root, with podman (or docker) installed. CI never builds
images. The fast test checks that the rig reads the corpus manifest right, so that a slow run can never
pass by expecting nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RIG = ROOT / "benchmarks" / "container" / "rig.py"
CORPUS = ROOT / "tests" / "programs" / "select_server"
SCHEMA = json.loads((ROOT / "tests" / "schemas" / "gradescope_results.schema.json").read_text())


def load_rig():
    spec = importlib.util.spec_from_file_location("container_rig", RIG)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def why_not_containers() -> str | None:
    if os.environ.get("GRADER_CONTAINER_TESTS") != "1":
        return "container tests build images: set GRADER_CONTAINER_TESTS=1 to run them (see benchmarks/container)"
    if os.geteuid() != 0:
        return "container tests need root (the container runtime and debootstrap)"
    if not (shutil.which("podman") or shutil.which("docker")):
        return "no container runtime: apt-get install podman runc debootstrap"
    return None


def test_rig_reads_every_expectation_of_the_manifest():
    rig = load_rig()
    programs = yaml.safe_load((CORPUS / "manifest.yaml").read_text())["programs"]
    for name, entry in programs.items():
        got = rig.expectation(CORPUS / name)
        assert got.must_fail == set(entry["fails"]), name
        assert got.messages == {k: str(v) for k, v in (entry.get("messages") or {}).items()}, name
    assert rig.expectation(ROOT / "reference" / "select_server").must_fail == set()
    assert rig.expectation(ROOT / "submissions").must_fail is None


def rig_run(tmp_path: Path, submission: Path, *flags: str) -> dict:
    out = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, str(RIG), "run", str(submission), "--json", str(out), *flags],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode in (0, 1), f"the rig itself failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    report = json.loads(out.read_text())
    assert not report["container"]["cap_sys_admin"]
    assert not report["container"]["cap_sys_ptrace"]
    assert report["container"]["seccomp"] == 2  # a seccomp filter is in force
    (run,) = report["runs"]
    assert run["tier"], "results.json must say which isolation tier graded it"
    return run


CASES = [
    # (submission, rig flags): the runtime's own defaults; Docker's (Gradescope's) defaults, also under
    # Gradescope's default limits; setup.sh on an image whose python3 has no venv module; a bug seen through
    # a blocked syscall, a bug seen through the fd table.
    pytest.param(ROOT / "reference" / "select_server", (), id="reference-engine-defaults"),
    pytest.param(ROOT / "reference" / "select_server", ("--docker", "--limits"), id="reference-docker-limits"),
    pytest.param(ROOT / "reference" / "select_server", ("--bare-python",), id="reference-bare-python"),
    pytest.param(CORPUS / "blocking_recv_after_accept", ("--docker",), id="blocking_recv-docker"),
    pytest.param(CORPUS / "close_without_parens", (), id="close_without_parens-engine-defaults"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("submission", "flags"), CASES)
def test_gradescope_zip_in_a_real_container(tmp_path, submission, flags):
    reason = why_not_containers()
    if reason:
        pytest.skip(reason)
    run = rig_run(tmp_path, submission, *flags)
    assert run.get("ok"), f"{run['submission']} ({' '.join(flags)}): {run.get('problem')}; see {run['log']}"
    assert run["messages_missing"] == [], f"explanations lack the manifest's phrase; see {run['log']}"
    jsonschema.validate(json.loads(Path(run["results"]).read_text()), SCHEMA)
    if submission.parent.name == "reference":
        assert run["score"] == run["max_score"] == 15
