"""The grading engine as a pytest plugin (pytest's "non-python tests" pattern).

    python -m pytest -p grader.session.plugin --grader-submission DIR assignments/NAME/assignment.yaml

collects one item per behaviour of the spec. Each item grades its behaviour on a fresh sandboxed instance
of the submission and writes its result as one JSON line to --grader-results as soon as it is known, so an
interrupted session loses nothing that finished. Points, visibility and the behaviour id ride in
`item.user_properties` (and so reach --junitxml). With --grader-jobs N > 1, behaviours run concurrently
(each has its own server in its own namespace); items then collect their results in order.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from grader.results import BehaviourResult

if TYPE_CHECKING:
    from grader.sandbox import Tier

OPTIONS = {
    "grader_submission": ("--grader-submission", "folder with the submission to grade", None),
    "grader_results": ("--grader-results", "append one JSON line per graded behaviour to this file", None),
    "grader_jobs": ("--grader-jobs", "behaviours graded at once (each with its own server)", "1"),
    "grader_sandbox": ("--grader-sandbox", "isolation tier to use by hand: bwrap, netns, userns or plain (default: "
                                           "the best this machine offers, chosen once for the session)", None),
    "grader_tier": ("--grader-tier", "the tier the caller chose (Tier.choice()), taken over as it is", None),
    "grader_seed": ("--grader-seed", "seed for the random payloads (default: fresh per behaviour)", None),
    "grader_only": ("--grader-only", "comma-separated behaviour ids to grade (default: all)", None),
    "grader_course": ("--grader-course", "path to grader.yaml", None),
    "grader_run_as": ("--grader-run-as", "user the submission runs as when grading as root", None),
    "grader_observe": ("--grader-observe", "how runs are observed: auto (/proc) or psutil (any platform; "
                                           "fewer checks can be graded)", None),
    "grader_lang": ("--grader-lang", "language of the messages (en, zh-CN): the caller's, passed explicitly", None),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader", "grading a submission")
    for dest, (flag, help_text, default) in OPTIONS.items():
        group.addoption(flag, dest=dest, default=None, help=help_text)
        parser.addini(dest, help_text, default=default)


@dataclass(frozen=True)
class Settings:
    submission: Path | None
    results: Path | None
    jobs: int
    sandbox: str | None
    tier: str | None  # the caller's choice as a value (runner.py): neither probed nor announced again
    seed: int | None
    only: frozenset[str]
    course: Path | None
    run_as: str | None
    observe: str = "auto"


def _resolve(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(name)
    return value if value is not None else (config.getini(name) or None)


settings_key = pytest.StashKey[Settings]()
tier_key = pytest.StashKey["Tier"]()
_tier_lock = threading.Lock()
pool_key = pytest.StashKey[dict]()


def pytest_configure(config: pytest.Config) -> None:
    sub, res, seed = (_resolve(config, k) for k in ("grader_submission", "grader_results", "grader_seed"))
    only = _resolve(config, "grader_only")
    course = _resolve(config, "grader_course")
    from grader import i18n

    # the caller resolved the language once; the session writes its messages in it (results carry text)
    i18n.use(i18n.resolve(_resolve(config, "grader_lang")))
    config.stash[settings_key] = Settings(
        submission=Path(sub).resolve() if sub else None,
        results=Path(res) if res else None,
        jobs=max(1, int(_resolve(config, "grader_jobs") or 1)),
        sandbox=_resolve(config, "grader_sandbox"),
        tier=_resolve(config, "grader_tier"),
        seed=int(seed) if seed else None,
        only=frozenset(x.strip() for x in only.split(",") if x.strip()) if only else frozenset(),
        course=Path(course) if course else None,
        run_as=_resolve(config, "grader_run_as"),
        observe=_resolve(config, "grader_observe") or "auto",
    )
    config.stash[pool_key] = {}
    config.addinivalue_line("markers", "grader_points(n): points of a custom check in an assignment folder")


def pytest_report_header(config: pytest.Config) -> str:
    s = config.stash[settings_key]
    return f"grader: submission={s.submission} jobs={s.jobs} sandbox={s.sandbox or 'auto'} observe={s.observe}"


def session_tier(config: pytest.Config) -> Tier:
    """The session's tier, once: the caller's choice (--grader-tier), else chosen here (--grader-sandbox or
    the best), and kept in the config's stash for every behaviour and fixture of the session."""
    from grader.sandbox import choose_sandbox, from_choice

    with _tier_lock:
        if tier_key not in config.stash:
            s = config.stash[settings_key]
            config.stash[tier_key] = from_choice(s.tier) if s.tier else choose_sandbox(s.sandbox, observe=s.observe)
        return config.stash[tier_key]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name == "assignment.yaml":
        return SpecFile.from_parent(parent, path=file_path)
    return None


class SpecFile(pytest.File):
    def collect(self):
        from grader.spec import load_course, load_spec

        settings = self.config.stash[settings_key]
        spec = load_spec(self.path)
        course = load_course(settings.course)
        for b in spec.behaviours:
            if settings.only and b.id not in settings.only:
                continue
            item = BehaviourItem.from_parent(self, name=b.id, spec=spec, behaviour=b, course=course)
            timeout = (b.timeout or course.defaults.behaviour_timeout) + (
                spec.startup_timeout or course.defaults.startup_timeout) + 15
            item.add_marker(pytest.mark.timeout(timeout))
            yield item


class GradingHarnessError(Exception):
    pass


_write_lock = threading.Lock()


class BehaviourItem(pytest.Item):
    def __init__(self, *, spec, behaviour, course, **kw) -> None:
        super().__init__(**kw)
        self.spec, self.behaviour, self.course = spec, behaviour, course
        self.result: BehaviourResult | None = None
        self.user_properties += [("behaviour", behaviour.id), ("points", behaviour.points),
                                 ("visibility", behaviour.visibility), ("check", behaviour.check)]

    def _grade(self) -> BehaviourResult:
        from grader.behaviour.engine import grade_behaviour
        s = self.config.stash[settings_key]
        if s.submission is None:
            raise pytest.UsageError("--grader-submission DIR is required to grade an assignment spec")
        return grade_behaviour(self.spec, self.behaviour, s.submission, self.course, session_tier(self.config), s.seed,
                               run_as=s.run_as)

    def _future(self) -> Future:
        """With jobs > 1 the first item starts every behaviour of the session at once."""
        s = self.config.stash[settings_key]
        pool = self.config.stash[pool_key]
        if not pool:
            ex = ThreadPoolExecutor(max_workers=s.jobs, thread_name_prefix="behaviour")
            pool["executor"] = ex
            for item in self.session.items:
                if isinstance(item, BehaviourItem):
                    pool[item.nodeid] = ex.submit(item._grade)
        return pool[self.nodeid]

    def runtest(self) -> None:
        s = self.config.stash[settings_key]
        self.result = self._future().result() if s.jobs > 1 else self._grade()
        self.user_properties += [("score", self.result.score), ("status", self.result.status)]
        _record(self, self.result)
        if self.result.status == "error":
            raise GradingHarnessError(self.result.observed)
        if not self.result.passed:
            raise BehaviourFailure(self.result)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, BehaviourFailure):
            from grader.reporters.terminal import failure_text

            return failure_text(excinfo.value.result)
        if isinstance(excinfo.value, GradingHarnessError):
            return f"grader error: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"{self.spec.name}::{self.behaviour.id} ({self.behaviour.points:g} pt)"


class BehaviourFailure(Exception):
    def __init__(self, result: BehaviourResult) -> None:
        super().__init__(result.summary)
        self.result = result


# --- custom checks: plain pytest tests in the assignment folder ------------------------------------------

def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    only = config.stash[settings_key].only
    if only:
        keep = [i for i in items if isinstance(i, BehaviourItem) or i.name in only]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


def _record(item: pytest.Item, result: BehaviourResult) -> None:
    s = item.config.stash[settings_key]
    if s.results is not None:
        # the token (from the runner, never given to a submission) tells our lines from any a submission
        # running as the grader's own uid (tier C) might append to the file
        token = os.environ.get("GRADER_RESULTS_TOKEN", "")
        with _write_lock, open(s.results, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"event": "behaviour", "token": token, "result": result.model_dump()}) + "\n")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if isinstance(item, BehaviourItem):
        return report
    # a custom check: record it once, at its call phase (or at a failed setup)
    if (report.when == "call") or (report.when == "setup" and not report.passed):
        marker = item.get_closest_marker("grader_points")
        points = float(marker.args[0]) if marker and marker.args else 1.0
        kwargs = marker.kwargs if marker else {}
        passed = report.passed
        summary = observed = ""
        if not passed and call.excinfo is not None:
            text = str(call.excinfo.value).strip()
            summary = text.splitlines()[0] if text else call.excinfo.typename
            observed = str(getattr(report.longrepr, "reprcrash", "") or "")[-2000:]
        _record(item, BehaviourResult(
            id=item.name, title=(getattr(item, "obj", None).__doc__ or "").strip().split("\n")[0]
            if getattr(item, "obj", None) is not None else "", check="custom",
            status="passed" if passed else "failed", score=points if passed else 0.0, max_score=points,
            visibility=kwargs.get("visibility", "visible"), hint=kwargs.get("hint", ""), summary=summary,
            observed=observed, duration=round(report.duration, 3)))
    return report


def _spec_for(request: pytest.FixtureRequest):
    from grader.spec import load_spec

    path = Path(request.path).parent / "assignment.yaml"
    if not path.is_file():
        raise pytest.UsageError(f"custom check {request.node.nodeid}: no assignment.yaml beside it")
    return load_spec(path)


@pytest.fixture
def submission_path(request: pytest.FixtureRequest) -> Path:
    """The folder of the submission being graded."""
    s = request.config.stash[settings_key]
    if s.submission is None:
        raise pytest.UsageError("--grader-submission DIR is required")
    return s.submission


@pytest.fixture
def submission_source(request: pytest.FixtureRequest, submission_path: Path) -> str:
    """The text of the submission's entry file (never imported)."""
    from grader.sandbox import intake
    from grader.spec import load_course

    spec = _spec_for(request)
    d = load_course(request.config.stash[settings_key].course).defaults
    # the validated copy (links, special files and caps refused), never the original folder
    return intake.read_entry(intake.validated(submission_path, intake.caps_of(d), spec.entry), spec.entry,
                             d.entry_max_bytes)


@pytest.fixture
def grader_context(request: pytest.FixtureRequest, submission_path: Path):
    """A Context for this test: start the submission with .start(), make clients with .client()."""
    import os

    from grader.harness.context import Context
    from grader.spec import Behaviour, load_course

    s = request.config.stash[settings_key]
    spec = _spec_for(request)
    sandbox = session_tier(request.config)
    ctx = Context(spec, Behaviour(id="custom", check="custom"), submission_path, load_course(s.course),
                  sandbox, s.seed if s.seed is not None else int.from_bytes(os.urandom(4), "big"))
    yield ctx
    ctx.close()


@pytest.fixture
def server(grader_context):
    """A fresh sandboxed instance of the submission, already listening on its address."""
    return grader_context.start()


@pytest.fixture
def server_address(grader_context) -> tuple[str, int]:
    return grader_context.address


@pytest.fixture
def client(grader_context, server):
    """Factory: client(name=None, timeout=2.0) -> a connected grader Client (exchange/send/expect/close)."""
    return lambda name=None, timeout=2.0: grader_context.client(name, timeout)


def pytest_unconfigure(config: pytest.Config) -> None:
    pool = config.stash.get(pool_key, {})
    ex = pool.get("executor")
    if ex is not None:
        ex.shutdown(wait=True, cancel_futures=True)
    from grader.sandbox import intake

    intake.discard_all()  # the session's validated copies (atexit does it too, but not after os._exit)
