"""The layout's promises (docs/layout.md), checked on the code itself: imports run one way with no cycle,
a spec loads without the sandbox, each fact has one home, the tier travels as a value, and the fake run
offers what the real one does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from grader.sandbox import TIERS, RunView, choose_sandbox, from_choice
from grader.sandbox import types as sandbox_types
from grader.session.runner import SessionOptions, pytest_argv
from grader.spec.params import DECLARED
from tests.conftest import COURSE, REPO, spec_of
from tests.fakes import FakeSandbox

# --- imports ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # every import, also those inside functions; only imports made for type annotations left out
    return grimp.build_graph("grader", exclude_type_checking_imports=True)


def cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """Every direct import A -> B where B also leads back to A: (A, B, ..., A)."""
    found = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if graph.chain_exists(importer=imported, imported=module):
                found.append((module, *graph.find_shortest_chain(importer=imported, imported=module)))
    return found


def test_no_module_of_the_package_reaches_itself_through_its_imports(graph: grimp.ImportGraph) -> None:
    assert len(graph.modules) > 80  # the graph is the package's, not an empty one
    assert cycles(graph) == []


def test_the_cycle_proof_finds_a_cycle_when_there_is_one() -> None:
    broken = grimp.build_graph("grader", exclude_type_checking_imports=True)
    broken.add_import(importer="grader.i18n", imported="grader.errors")  # what i18n did before UnknownLanguage
    assert ("grader.i18n", "grader.errors", "grader.i18n") in cycles(broken)


def test_the_layer_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_a_spec_loads_without_the_sandbox_the_checks_or_the_harness() -> None:
    code = ("import sys; from pathlib import Path; from grader.spec import load_spec; "
            "s = load_spec(Path('assignments/select_server/assignment.yaml')); "
            "print(len(s.behaviours), sorted({m.split('.')[1] for m in sys.modules if m.startswith('grader.')}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60,
                          check=True)
    n, loaded = proc.stdout.split(" ", 1)
    assert int(n) > 5
    assert eval(loaded) == ["errors", "i18n", "spec"]  # noqa: S307 - our own child's repr of a list of names


# --- one fact, one place ------------------------------------------------------------------------------------

def test_every_declared_check_has_one_implementation_and_every_implementation_a_declaration() -> None:
    from grader.checks import library

    assert set(library()) == set(DECLARED)
    for name, check in library().items():
        assert check.params is DECLARED[name].params
        assert check.kinds == DECLARED[name].kinds
        assert check.doc, name  # the first line is the behaviour's title in reports


def test_the_tier_facts_the_command_line_reads_agree_with_the_registry() -> None:
    assert tuple(t.name for t in TIERS) == sandbox_types.TIER_NAMES
    assert [t.level for t in TIERS] == sorted(t.level for t in TIERS)
    assert {t.level for t in TIERS} == set(sandbox_types.LEVELS)
    assert [t.label() for t in TIERS] == ["bwrap (tier A)", "netns (tier B)", "userns (tier B)", "plain (tier C)"]


def test_every_name_the_sandbox_facade_offers_resolves() -> None:
    import grader.sandbox as facade

    for name in facade.__all__:
        assert getattr(facade, name) is not None, name


# --- the tier as a value ------------------------------------------------------------------------------------

def test_a_chosen_tier_travels_as_a_value_and_is_taken_over_without_a_probe(monkeypatch) -> None:
    tier = choose_sandbox("plain", announce=False, observe="psutil")
    import grader.sandbox.choose as choose

    monkeypatch.setattr(choose, "prove_tier", lambda t: pytest.fail("taken over, so never proven again"))
    again = from_choice(tier.choice())
    assert (again.name, again.observe, again.forced, again.fallback_reason) == ("plain", "psutil", True, None)
    assert type(again) is type(tier)
    argv = pytest_argv(spec_of("select_server"), Path("."), Path("r"), COURSE, SessionOptions(tier=tier))
    assert argv[argv.index("--grader-tier") + 1] == tier.choice()
    assert "--grader-sandbox" not in argv  # never a name to look up again in the session


def test_choosing_keeps_nothing_each_call_is_a_new_proven_value() -> None:
    a, b = choose_sandbox(announce=False), choose_sandbox(announce=False)
    assert a is not b
    assert (a.name, a.fallback_reason) == (b.name, b.fallback_reason)


@pytest.mark.slow
@pytest.mark.root
def test_the_grading_session_grades_in_the_tier_its_caller_chose() -> None:
    from grader.sandbox import is_root
    from grader.session.runner import grade

    if not is_root() or "netns" not in [t.name for t in TIERS] or choose_sandbox(announce=False).name != "bwrap":
        pytest.skip("needs a machine whose best tier is bwrap, so that a chosen netns differs from the best")
    netns = choose_sandbox("netns", announce=False)
    result = grade(spec_of("select_server"), COURSE.reference_path / "select_server", COURSE,
                   SessionOptions(tier=netns, only=("echo",)))
    assert result.tier == "netns (tier B)"
    [echo] = result.behaviours
    assert echo.status == "passed", echo.summary
    assert echo.evidence["tier"] == "netns (tier B)"  # recorded by the run in the child session, not the parent


# --- the seam -----------------------------------------------------------------------------------------------

def test_the_fake_run_and_a_real_run_both_offer_what_checks_may_use(tmp_path: Path) -> None:
    from grader.sandbox import Launch, Limits

    fake = FakeSandbox().start(Launch(tmp_path, "server.py"))
    try:
        assert isinstance(fake, RunView)
    finally:
        fake.stop()
    (tmp_path / "server.py").write_text("import time\ntime.sleep(30)\n")
    real = choose_sandbox(announce=False).start(Launch(tmp_path, "server.py", limits=Limits(wall_seconds=20)))
    try:
        assert isinstance(real, RunView)
        assert real.observer_name
    finally:
        assert real.stop().clean
