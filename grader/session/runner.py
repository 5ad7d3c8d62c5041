"""Run one pytest session per (submission, assignment) in a child process and collect its results.

The session writes one JSON line per behaviour as it finishes; whatever the session does (a pytest-timeout
backstop ending it, a crash, a kill), every behaviour it did not report becomes a failed result with a
reason here, so no result is ever lost or left out.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader import __version__
from grader.i18n import _
from grader.results import BehaviourResult, SubmissionResult
from grader.spec import Course, Spec

if TYPE_CHECKING:
    from grader.sandbox import Tier

PYTEST_INI = Path(__file__).with_name("pytest.ini")  # the session's own pytest config


@dataclass(frozen=True)
class SessionOptions:
    jobs: int = 0  # 0: every behaviour at once
    tier: Tier | None = None  # the tier chosen once by the caller (choose_sandbox); None: the best, chosen here
    seed: int | None = None
    only: tuple[str, ...] = ()
    junitxml: Path | None = None
    verbose: bool = False
    session_timeout: float | None = None
    run_as: str | None = None  # user name the submission runs as (when the grader runs as root)
    require_isolation: str | None = None  # "A"/"B"/"C": refuse (UsageError) when the tier is worse
    language: str | None = None  # of the messages the session writes; None: this process's (grader/i18n.py)
    observe: str = "auto"  # how runs are observed when the tier is chosen here: auto (/proc) or psutil
    # batch runs: the session gets its own process group (the terminal's Ctrl-C reaches only the batch,
    # which decides what to keep) and ends itself when the process that started it dies (batch/tether.py)
    detached: bool = False
    # how the session process is started and waited for: (argv, env, cwd, timeout) -> (exit code or why it
    # was killed, tail of its output). None: a fresh `python -m pytest` process. The batch forks sessions
    # from a warm interpreter instead (batch/warm.py), which saves a cold start per run.
    starter: Callable[[list[str], dict[str, str], str, float], tuple[int | str, str]] | None = None


def pytest_argv(spec: Spec, submission: Path, results: Path, course: Course, opts: SessionOptions) -> list[str]:
    jobs = opts.jobs or len(spec.behaviours)
    argv = [sys.executable, "-m", "pytest", "-c", str(PYTEST_INI), "--rootdir", str(spec.path.parent),
            "-p", "grader.session.plugin", "-p", "no:cacheprovider", "-q", "--no-header",
            "--grader-submission", str(submission), "--grader-results", str(results),
            "--grader-jobs", str(jobs), str(spec.path.parent)]  # the folder: custom test_*.py too
    if course.root and (course.root / "grader.yaml").is_file():
        argv += ["--grader-course", str(course.root / "grader.yaml")]
    if opts.tier is not None:  # the tier as a value: the session neither probes nor announces again
        argv += ["--grader-tier", opts.tier.choice()]
    from grader import i18n

    language = opts.language or i18n.language()
    if language != i18n.DEFAULT:  # explicit, never through the environment
        argv += ["--grader-lang", language]
    if opts.seed is not None:
        argv += ["--grader-seed", str(opts.seed)]
    if opts.only:
        argv += ["--grader-only", ",".join(opts.only)]
    if opts.run_as:
        argv += ["--grader-run-as", opts.run_as]
    if opts.detached:
        argv += ["-p", "grader.batch.tether"]
    if opts.junitxml:
        # absolute: the session runs in a temporary folder
        argv += ["--junitxml", str(Path(opts.junitxml).resolve()), "-o", "junit_family=xunit2"]
    return argv


def grade(spec: Spec, submission: Path, course: Course, opts: SessionOptions = SessionOptions(),
          student: str | None = None) -> SubmissionResult:
    submission = submission.resolve()
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    from dataclasses import replace

    from grader.runtime import current as current_runtime
    from grader.sandbox import choose_sandbox, require_level

    sandbox = opts.tier if opts.tier is not None else choose_sandbox(observe=opts.observe)
    if opts.require_isolation:
        require_level(sandbox, opts.require_isolation)
    opts = replace(opts, tier=sandbox)
    if spec.kind == "server":
        sandbox.require_free((spec.address.host, spec.address.port))  # say so now, not once per behaviour
    with tempfile.TemporaryDirectory(prefix="grader-session-") as tmp:
        results = Path(tmp) / "results.jsonl"
        results.touch()
        argv = pytest_argv(spec, submission, results, course, opts)
        wanted = [b for b in spec.behaviours if not opts.only or b.id in opts.only]
        timeout = opts.session_timeout or sum(
            (b.timeout or course.defaults.behaviour_timeout) for b in wanted) + 60
        token = secrets.token_hex(16)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", GRADER_RESULTS_TOKEN=token)
        env.pop("PYTEST_ADDOPTS", None)
        if opts.detached:
            env["GRADER_TETHER_PID"] = str(os.getpid())
        code: int | str
        if opts.starter is not None:
            code, session_out = opts.starter(argv, env, tmp, timeout)
        else:
            try:
                proc = subprocess.run(argv, capture_output=not opts.verbose, text=True, timeout=timeout,
                                      env=env, cwd=tmp, check=False, start_new_session=opts.detached)
                session_out = "" if opts.verbose else (proc.stdout[-3000:] + proc.stderr[-3000:])
                code = proc.returncode
            except subprocess.TimeoutExpired:
                session_out, code = "", _("killed after {seconds} s").format(seconds=f"{timeout:.0f}")
        got: dict[str, BehaviourResult] = {}
        for line in results.read_text(encoding="utf-8").splitlines():
            try:
                msg = json.loads(line)
            except ValueError:
                msg = {}
            if not isinstance(msg, dict) or msg.get("token") != token:
                continue  # not written by the session: a submission that could reach the file (tier C)
            if msg.get("event") != "behaviour":
                raise ValueError(f"unknown event from the grading session: {msg.get('event')!r}")
            r = BehaviourResult.model_validate(msg["result"])
            got[r.id] = r
    behaviours = []
    for b in wanted:
        if b.id in got:
            behaviours.append(got[b.id])
        else:
            behaviours.append(BehaviourResult(
                id=b.id, title=b.title, check=b.check, status="failed", reason="timeout", score=0.0,
                max_score=b.points, visibility=b.visibility, hint=b.hint,
                summary=_("this behaviour did not finish: the grading session ended before it reported"),
                expected=_("the behaviour completes within its time limit"),
                observed=_("grading session ended ({code}); {last_words}").format(
                    code=code, last_words=_last_words(session_out)),
            ))
    from grader.verdict import charge_once

    behaviours = charge_once(spec, behaviours)  # one bug seen by several behaviours is charged to one
    # custom checks (test_*.py in the assignment folder) come after the spec's behaviours
    behaviours += [r for rid, r in got.items() if rid not in {b.id for b in wanted}]
    return SubmissionResult(assignment=spec.name, title=spec.title, submission=str(submission), student=student,
                     tier=sandbox.tier, tier_note=sandbox.fallback_reason or "",
                     python=current_runtime().label, grader_version=__version__, started_at=started,
                     duration=round(time.monotonic() - t0, 2),
                     behaviours=behaviours)


def _last_words(out: str) -> str:
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    return " / ".join(lines[-3:])[-500:] if lines else _("no output")
