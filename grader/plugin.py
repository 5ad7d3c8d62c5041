"""The grading engine as a pytest plugin (pytest's "non-python tests" pattern).

    python -m pytest -p grader.plugin --grader-submission DIR assignments/NAME/assignment.yaml

collects one item per behaviour of the spec. Each item grades its behaviour on a fresh sandboxed instance
of the submission and writes its result as one JSON line to --grader-results as soon as it is known, so an
interrupted session loses nothing that finished. Points, visibility and the behaviour id ride in
`item.user_properties` (and so reach --junitxml). With --grader-jobs N > 1, behaviours run concurrently
(each has its own server in its own namespace); items then collect their results in order.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.results import BehaviourResult

OPTIONS = {
    "grader_submission": ("--grader-submission", "folder with the submission to grade", None),
    "grader_results": ("--grader-results", "append one JSON line per graded behaviour to this file", None),
    "grader_jobs": ("--grader-jobs", "behaviours graded at once (each with its own server)", "1"),
    "grader_sandbox": ("--grader-sandbox", "force an isolation tier: netns or plain", None),
    "grader_seed": ("--grader-seed", "seed for the random payloads (default: fresh per behaviour)", None),
    "grader_only": ("--grader-only", "comma-separated behaviour ids to grade (default: all)", None),
    "grader_course": ("--grader-course", "path to grader.yaml", None),
    "grader_run_as": ("--grader-run-as", "user the submission runs as when grading as root", None),
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
    seed: int | None
    only: frozenset[str]
    course: Path | None
    run_as: str | None


def _resolve(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(name)
    return value if value is not None else (config.getini(name) or None)


settings_key = pytest.StashKey[Settings]()
pool_key = pytest.StashKey[dict]()


def pytest_configure(config: pytest.Config) -> None:
    sub, res, seed = (_resolve(config, k) for k in ("grader_submission", "grader_results", "grader_seed"))
    only = _resolve(config, "grader_only")
    course = _resolve(config, "grader_course")
    config.stash[settings_key] = Settings(
        submission=Path(sub).resolve() if sub else None,
        results=Path(res) if res else None,
        jobs=max(1, int(_resolve(config, "grader_jobs") or 1)),
        sandbox=_resolve(config, "grader_sandbox"),
        seed=int(seed) if seed else None,
        only=frozenset(x.strip() for x in only.split(",") if x.strip()) if only else frozenset(),
        course=Path(course) if course else None,
        run_as=_resolve(config, "grader_run_as"),
    )
    config.stash[pool_key] = {}
    config.addinivalue_line("markers", "grader_points(n): points of a custom check in an assignment folder")


def pytest_report_header(config: pytest.Config) -> str:
    s = config.stash[settings_key]
    return f"grader: submission={s.submission} jobs={s.jobs} sandbox={s.sandbox or 'auto'}"


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
        from grader.engine import grade_behaviour
        from grader.sandbox import choose_sandbox

        s = self.config.stash[settings_key]
        if s.submission is None:
            raise pytest.UsageError("--grader-submission DIR is required to grade an assignment spec")
        return grade_behaviour(self.spec, self.behaviour, s.submission, self.course, choose_sandbox(s.sandbox),
                               s.seed, run_as=s.run_as)

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
        if s.results is not None:
            with _write_lock, open(s.results, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"event": "behaviour", "result": self.result.model_dump()}) + "\n")
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


def pytest_unconfigure(config: pytest.Config) -> None:
    pool = config.stash.get(pool_key, {})
    ex = pool.get("executor")
    if ex is not None:
        ex.shutdown(wait=True, cancel_futures=True)
