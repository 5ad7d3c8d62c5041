"""The hostile corpus: one tiny program per attack (tests/hostile/<attack>/server.py, header comment = attack
and expected outcome), graded through the real grader, each with its asserted outcome (DOMjudge-style).

Tier A (root + bubblewrap + cgroups): every attack is graded at once, the bombs together with a good
submission of the real select_server assignment, which must still get full marks. Afterwards: no process
of any run is alive, no file on the host belongs to a sandbox uid, no marker file the programs tried to
plant exists, and the files they tried to overwrite are unchanged.

Without root: the grader is run as `nobody` (tier B, user namespaces; and forced tier C, plain processes)
on a subset, to show it still works, contains what it can, and labels its tier.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from grader.results import SubmissionResult
from grader.sandbox import choose_sandbox, slots
from grader.session.runner import SessionOptions, grade
from grader.spec import load_spec
from tests.conftest import COURSE, REPO, by_id, spec_of

HOSTILE = REPO / "tests" / "hostile"
SPEC = load_spec(HOSTILE / "assignment.yaml")
SCRIPT_SPEC = load_spec(REPO / "tests" / "hostile_script" / "assignment.yaml")
SLOT_UIDS = range(slots.UID_BASE, slots.UID_BASE + slots.SLOTS)
SECRET_VAR = "GRADER_TEST_SECRET"  # noqa: S105 - a fake secret, planted to be looked for
LAUNCHER = REPO / "grader" / "sandbox" / "standalone" / "launch.py"

pytestmark = pytest.mark.slow


def tier_a_problem() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    from grader.sandbox.tiers.bwrap import bwrap_problem

    return bwrap_problem()


def copy_program(attack: str, dest: Path, targets: dict | None = None) -> Path:
    sub = dest / attack
    shutil.copytree(HOSTILE / attack if (HOSTILE / attack).is_dir() else REPO / "tests" / attack, sub)
    if targets is not None:
        (sub / "targets.json").write_text(json.dumps(targets))
    return sub


def snapshot(paths: list[Path]) -> dict[str, str]:
    """Path -> content hash (or 'absent'), for every file under `paths`."""
    out = {}
    for root in paths:
        files = [root] if root.is_file() or not root.exists() else [p for p in root.rglob("*") if p.is_file()]
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest() if f.exists() else "absent"
    return out


def host_files_of(uids: range, roots=("/tmp", "/var/tmp", "/dev/shm", "/run", "/work", "/root")) -> list[str]:  # noqa: S108
    """Files on the host owned by a sandbox uid: anything a run managed to leave behind."""
    cmd = ["find", *[r for r in roots if os.path.isdir(r)], "-xdev",
           "(", "-uid", f"+{uids.start - 1}", "-uid", f"-{uids.stop}", ")", "-print"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    return out.split()


def markers(roots=("/tmp", "/var/tmp", "/dev/shm", "/work", "/root", "/")) -> list[str]:  # noqa: S108
    cmd = ["find", *[r for r in roots if os.path.isdir(r)], "-xdev", "-maxdepth", "6", "-name", "HOSTILE-MARKER*",
           "-print"]
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.split()


def processes_of(uids, mounting: Path | None = None) -> list[tuple[int, str]]:
    """Live processes of `uids`; with `mounting`, only those whose mount table mentions that folder (a
    tier A run binds its copy of the submission from the scratch folder: other suites' runs, which may
    use the same slot uids at the same time, do not)."""
    found = []
    for p in psutil.process_iter(["uids", "name"]):
        try:
            if not p.info["uids"] or p.info["uids"].real not in uids or p.status() == psutil.STATUS_ZOMBIE:
                continue
            if mounting is not None:
                with open(f"/proc/{p.pid}/mountinfo") as fh:
                    if str(mounting) not in fh.read():
                        continue
            found.append((p.pid, p.info["name"]))
        except (psutil.Error, OSError):
            continue
    return found


def survivors(uids, mounting: Path | None = None, grace: float = 10.0) -> list[tuple[int, str]]:
    """processes_of() that are still there after a grace period: a process SIGKILLed a moment ago may take
    a while to finish exiting on a loaded machine; one that is still alive after `grace` s survived."""
    deadline = time.monotonic() + grace
    while True:
        left = processes_of(uids, mounting)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def port_9000_listeners_on_host() -> list[str]:
    rows = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as fh:
            rows += [ln for ln in fh.read().splitlines()[1:] if ln.split()[1].endswith(":2328") and
                     ln.split()[3] == "0A"]
    return rows


def out(result: SubmissionResult, bid: str | None = None) -> str:
    bs = [by_id(result)[bid]] if bid else result.behaviours
    return "\n".join(b.stdout_tail + b.stderr_tail for b in bs)


def statuses(result: SubmissionResult) -> dict[str, tuple[str, str]]:
    return {b.id: (b.status, b.reason) for b in result.behaviours}


# --- tier A: every attack at once ------------------------------------------------------------------------

ATTACKS = ["fake_results", "write_results", "read_secrets", "exit_at_start", "daemon", "fork_bomb", "thread_bomb",
           "memory_bomb", "flood_stdout", "flood_stderr", "prints_1mb_per_s", "disk_fill", "never_listens",
           "input_block", "wrong_address", "kill_parent", "signal_others", "namespaces", "good"]
BOMBS = ["fork_bomb", "thread_bomb", "memory_bomb"]


@pytest.fixture(scope="module")
def tier_a(tmp_path_factory):
    why = tier_a_problem()
    if why:
        pytest.skip(f"tier A is not available here: {why}")
    work = tmp_path_factory.mktemp("hostile")
    results_dir = work / "results"
    results_dir.mkdir()
    (results_dir / "results.json").write_text('{"score": 0}\n')
    targets = {
        "write": [str(results_dir / "results.json"), str(results_dir / "HOSTILE-MARKER-grade.json"),
                  str(REPO / "HOSTILE-MARKER-results.json"), str(REPO / "grader" / "HOSTILE-MARKER.py")],
        "read": [str(REPO / "assignments" / "select_server" / "assignment.yaml"),
                 str(COURSE.reference_path / "select_server" / "server.py"),
                 str(REPO / "grader" / "engine.py"), str(REPO / "tests" / "hostile" / "assignment.yaml"),
                 str(results_dir / "results.json")],
    }
    subs = {a: copy_program(a, work / "subs", targets) for a in ATTACKS}
    subs["never_ends"] = copy_program("hostile_script/never_ends", work / "subs")
    watched = [results_dir, work / "subs", REPO / "assignments", REPO / "grader" / "engine.py"]
    before = snapshot(watched)
    files_before, markers_before = host_files_of(SLOT_UIDS), markers()
    scratch = work / "scratch"
    scratch.mkdir()
    secret = f"hunter2-{os.getpid()}"
    mp = pytest.MonkeyPatch()
    mp.setenv(SECRET_VAR, secret)
    mp.setenv("GRADER_SCRATCH", str(scratch))
    results: dict[str, SubmissionResult] = {}
    t0 = time.monotonic()
    try:
        jobs: dict[str, object] = {}
        bwrap = SessionOptions(tier=choose_sandbox("bwrap", announce=False))  # chosen once, passed to every run
        with ThreadPoolExecutor(max_workers=5) as pool:
            # the bombs and a good select_server submission first, so that they run at the same time
            jobs["good_select_server"] = pool.submit(grade, spec_of("select_server"),
                                                     COURSE.reference_path / "select_server", COURSE,
                                                     bwrap)
            for a in BOMBS + [a for a in ATTACKS if a not in BOMBS]:
                jobs[a] = pool.submit(grade, SPEC, subs[a], COURSE, bwrap)
            jobs["never_ends"] = pool.submit(grade, SCRIPT_SPEC, subs["never_ends"], COURSE,
                                             bwrap)
            for name, fut in jobs.items():
                results[name] = fut.result()
    finally:
        mp.undo()
    elapsed = time.monotonic() - t0
    return {"results": results, "before": before, "after": snapshot(watched), "watched": watched,
            "files_before": files_before, "files_after": host_files_of(SLOT_UIDS),
            "markers_before": markers_before, "markers_after": markers(), "secret": secret,
            "scratch": scratch, "elapsed": elapsed, "procs_after": survivors(SLOT_UIDS, mounting=scratch)}


EXPECTED_A = {  # attack -> {behaviour: (status, reason or None for any)}
    "good": {"small": ("passed", ""), "big": ("passed", "")},
    "fake_results": {"small": ("failed", None), "big": ("failed", None)},
    "write_results": {"small": ("passed", ""), "big": ("passed", "")},
    "read_secrets": {"small": ("passed", ""), "big": ("passed", "")},
    "exit_at_start": {"small": ("failed", "crashed"), "big": ("failed", "blocked_by")},
    "daemon": {"small": ("failed", None), "big": ("failed", None)},
    "fork_bomb": {"small": ("failed", "process_limit"), "big": ("failed", "process_limit")},
    "thread_bomb": {"small": ("failed", "process_limit"), "big": ("failed", "process_limit")},
    "memory_bomb": {"small": ("passed", ""), "big": ("failed", "memory_limit")},
    "flood_stdout": {"small": ("passed", ""), "big": ("failed", "output_limit")},
    "flood_stderr": {"small": ("failed", "output_limit"), "big": ("failed", "output_limit")},
    "prints_1mb_per_s": {"small": ("passed", ""), "big": ("passed", "")},
    "disk_fill": {"small": ("passed", ""), "big": ("passed", "")},
    "never_listens": {"small": ("failed", "never_listened"), "big": ("failed", "blocked_by")},
    "input_block": {"small": ("failed", "crashed"), "big": ("failed", "blocked_by")},
    "wrong_address": {"small": ("failed", "wrong_address"), "big": ("failed", "blocked_by")},
    "kill_parent": {"small": ("passed", ""), "big": ("passed", "")},
    "signal_others": {"small": ("passed", ""), "big": ("passed", "")},
    "namespaces": {"small": ("passed", ""), "big": ("passed", "")},
}


@pytest.mark.parametrize("attack", sorted(EXPECTED_A))
def test_tier_a_outcome(tier_a, attack):
    result = tier_a["results"][attack]
    assert result.tier == "bwrap (tier A)"
    got = statuses(result)
    for bid, (status, reason) in EXPECTED_A[attack].items():
        assert got[bid][0] == status, f"{attack}/{bid}: {got[bid]} ({by_id(result)[bid].summary})"
        if reason is not None:
            assert got[bid][1] == reason, f"{attack}/{bid}: {got[bid]} ({by_id(result)[bid].summary})"
    assert not any(b.status == "error" for b in result.behaviours), "a harness error (survivors?)"


def test_tier_a_limits_explain_themselves(tier_a):
    r = tier_a["results"]
    assert by_id(r["fork_bomb"])["small"].summary.startswith("ran into the limit of 128 processes and threads")
    assert by_id(r["memory_bomb"])["big"].summary.startswith("killed by the 256 MiB memory limit")
    big = by_id(r["flood_stdout"])["big"]
    assert big.summary.startswith("stopped after printing more than 64 MiB (the output limit)")
    assert 64 << 20 < big.evidence["stdout_bytes"] < 1 << 30
    assert len(big.stdout_tail) <= 1600  # only a capped tail reaches the result
    assert "EOFError" in by_id(r["input_block"])["small"].summary
    assert "listens on 127.0.0.1:9001 instead of 127.0.0.1:9000" in by_id(r["wrong_address"])["small"].summary
    for attack in ("exit_at_start", "never_listens", "input_block", "wrong_address"):
        big = by_id(r[attack])["big"]  # said once, by the first behaviour: the others point at it
        assert big.summary.startswith("not graded: "), big.summary
        assert big.summary.endswith("(see small)"), big.summary
        assert big.evidence["blocked_by"] == "small"
    chatty = by_id(r["prints_1mb_per_s"])["big"]
    assert chatty.passed  # printing is not a failure
    assert chatty.evidence["stdout_bytes"] >= 100_000


def test_tier_a_bombs_leave_a_concurrent_good_submission_full_marks(tier_a):
    good = tier_a["results"]["good_select_server"]
    assert good.score == good.max_score, {b.id: b.summary for b in good.behaviours if not b.passed}


def test_tier_a_never_ending_script_is_stopped_by_the_time_limit(tier_a):
    b = tier_a["results"]["never_ends"].behaviours[0]
    assert (b.status, b.reason) == ("failed", "timeout"), b.summary
    assert b.summary.startswith("stopped after"), b.summary
    assert b.duration < 10


def test_tier_a_lies_on_stdout_change_nothing(tier_a):
    r = tier_a["results"]["fake_results"]
    assert r.score == 0
    assert "ALL TESTS PASSED" in out(r)  # shown as evidence, never parsed


def test_tier_a_writes_outside_the_sandbox_all_fail(tier_a):
    text = out(tier_a["results"]["write_results"], "small")
    assert "done writing" in text
    wrote = [ln.split(" ", 1)[1] for ln in text.splitlines() if ln.startswith("WROTE")]
    assert "/tmp/HOSTILE-MARKER-results.json" in wrote, text  # noqa: S108 - its own private /tmp
    # only into its private /tmp (which also holds the mount points of a repository cloned under /tmp),
    # and nothing of it reached the host
    assert all(w.startswith("/tmp/") for w in wrote), text  # noqa: S108
    assert not [w for w in wrote if Path(w).exists()], "a write reached the host"
    assert tier_a["after"] == tier_a["before"], "a watched file changed"


def test_tier_a_reads_of_course_grader_and_secrets_all_fail(tier_a):
    text = out(tier_a["results"]["read_secrets"], "small")
    assert "NO-SECRET" in text, text
    assert "FOUND-SECRET" not in text, text
    assert "READ " not in text, text  # not one of the course's / grader's files, nor /etc/shadow
    assert tier_a["secret"] not in json.dumps([r.model_dump() for r in tier_a["results"].values()])
    proc_line = next(ln for ln in text.splitlines() if ln.startswith("PROC"))
    seen = {e.split("/")[0] for e in json.loads(proc_line.split(" PPID")[0][5:].replace("'", '"'))}
    assert seen <= {"1", "2"}, proc_line  # only its own pid namespace: bwrap's init and itself
    env_line = next(ln for ln in text.splitlines() if ln.startswith("ENV"))
    # PYTHONPATH: the grader's observer (grader/site, mounted read-only), in every run since issue 9
    assert env_line == "ENV ['GRADER_RUN', 'HOME', 'LANG', 'PATH', 'PWD', 'PYTHONDONTWRITEBYTECODE', " \
                       "'PYTHONPATH', 'PYTHONUNBUFFERED']", env_line


def test_tier_a_disk_fill_is_bounded(tier_a):
    text = out(tier_a["results"]["disk_fill"], "small")
    assert "done filling" in text, text
    assert "FILLED" not in text, text
    assert "STOPPED ./HOSTILE-MARKER-fill 0 MiB OSError 30" in text  # read-only submission
    tmp = next(ln for ln in text.splitlines() if ln.startswith("STOPPED /tmp/"))
    assert tmp.split()[2] in ("15", "16"), tmp  # the 16 MiB /tmp ...
    assert tmp.split()[-1] in ("27", "28"), tmp  # ... ends in EFBIG (RLIMIT_FSIZE) or ENOSPC (tmpfs size)
    assert "STOPPED /HOSTILE-MARKER-fill 0 MiB OSError 30" in text  # read-only root


def test_tier_a_signals_and_escapes_reach_nothing(tier_a):
    kill = out(tier_a["results"]["kill_parent"], "small")
    assert "still here" in kill
    reach = next(ln for ln in out(tier_a["results"]["signal_others"], "small").splitlines()
                 if ln.startswith("REACHABLE"))
    assert reach.startswith("REACHABLE [1, 2] self 2"), reach
    esc = out(tier_a["results"]["namespaces"], "small")
    assert "done escaping" in esc, esc
    assert "ESCAPE" not in esc, esc


def test_tier_a_nothing_survives_and_nothing_is_left_on_the_host(tier_a):
    assert tier_a["procs_after"] == [], "processes of a sandbox uid are still alive"
    assert tier_a["files_after"] == tier_a["files_before"] == [], "files owned by a sandbox uid on the host"
    assert tier_a["markers_after"] == tier_a["markers_before"], "a planted marker file exists"
    leftovers = [p for p in Path(tier_a["scratch"]).iterdir()]
    assert leftovers == [], f"run scratch folders not removed: {leftovers}"


def test_tier_a_whole_corpus_within_budget(tier_a):
    assert tier_a["elapsed"] < 90, f"the corpus took {tier_a['elapsed']:.0f} s"


# --- without root: the grader runs as `nobody` -------------------------------------------------------------


def nobody() -> tuple[int, int]:
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


@pytest.fixture(scope="module")
def as_nobody(tmp_path_factory):
    """Run `grader ...` as nobody. The interpreter may sit under /root (mode 700): the trusted launcher
    exposes it in a private mount namespace, exactly as it does for sandboxed runs."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become nobody (an unprivileged run of the suite exercises this directly)")
    uid, gid = nobody()
    home = Path(tempfile.mkdtemp(prefix="grader-nobody-"))
    for d in (home, home / "subs", home / "scratch"):
        d.mkdir(exist_ok=True)
    for a in ("good", "daemon", "memory_bomb", "flood_stderr", "fork_bomb", "flood_stdout", "write_results"):
        copy_program(a, home / "subs")
    for p in [home, *home.rglob("*")]:
        os.chown(p, uid, gid)
    from grader.sandbox.host import python_paths

    expose = [arg for p in python_paths() for arg in ("--expose", p)]

    def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-I", "-S", str(LAUNCHER), *expose, "--exec", "--",
               shutil.which("setpriv"), f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--",
               sys.executable, "-m", "grader.cli", *args]
        full = {"PATH": "/usr/bin:/bin", "HOME": str(home), "GRADER_SCRATCH": str(home / "scratch"),
                "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO, env=full, check=False)

    yield run, home
    shutil.rmtree(home, ignore_errors=True)


def _graded(proc: subprocess.CompletedProcess) -> SubmissionResult:
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return SubmissionResult.model_validate_json(proc.stdout)


def test_without_root_tier_b_grades_labels_and_contains(as_nobody):
    run, home = as_nobody
    spec = str(HOSTILE / "assignment.yaml")
    cases = {a: (spec, str(home / "subs" / a)) for a in ("good", "daemon", "memory_bomb", "flood_stderr",
                                                         "fork_bomb")}
    with ThreadPoolExecutor(max_workers=3) as pool:
        procs = {a: pool.submit(run, "check", s, p, "--json") for a, (s, p) in cases.items()}
        procs = {a: f.result() for a, f in procs.items()}
    res = {a: _graded(p) for a, p in procs.items()}
    for a, r in res.items():
        assert r.tier == "userns (tier B)", (a, r.tier)
        assert "not tier A" in r.tier_note
        assert procs[a].stderr.count("not tier A because") == 1, procs[a].stderr  # said once, clearly
        assert not any(b.status == "error" for b in r.behaviours), (a, [b.observed for b in r.behaviours])
    assert res["good"].score == res["good"].max_score
    assert {s for s, _ in statuses(res["daemon"]).values()} == {"failed"}
    assert statuses(res["memory_bomb"]) == {"small": ("passed", ""), "big": ("failed", "memory_limit")}
    assert {r for _, r in statuses(res["flood_stderr"]).values()} == {"output_limit"}
    assert {r for _, r in statuses(res["fork_bomb"]).values()} == {"process_limit"}
    assert survivors([nobody()[0]]) == [], "a process of the unprivileged runs survived"


def test_without_root_tier_c_plain_processes(as_nobody):
    run, home = as_nobody
    spec = str(HOSTILE / "assignment.yaml")
    good = _graded(run("check", spec, str(home / "subs" / "good"), "--sandbox", "plain", "--json"))
    assert good.tier == "plain (tier C)"
    assert good.score == good.max_score
    daemon = _graded(run("check", spec, str(home / "subs" / "daemon"), "--sandbox", "plain", "--json"))
    assert all(b.status == "failed" for b in daemon.behaviours)
    flood = _graded(run("check", spec, str(home / "subs" / "flood_stdout"), "--sandbox", "plain", "--json"))
    assert statuses(flood) == {"small": ("passed", ""), "big": ("failed", "output_limit")}
    assert survivors([nobody()[0]]) == [], "the daemon (or another process) survived tier C"
    assert not [ln for ln in port_9000_listeners_on_host() if ln.split()[7] == str(nobody()[0])]


def test_without_root_tier_c_forged_result_lines_are_ignored(as_nobody):
    """Tier C runs the submission as the grader's own uid: it CAN append to the grading session's result
    file. Lines without the session's token are ignored: the grading completes, on the grader's verdicts."""
    run, home = as_nobody
    try:
        r = _graded(run("check", str(HOSTILE / "assignment.yaml"), str(home / "subs" / "write_results"),
                        "--sandbox", "plain", "--json"))
        text = out(r, "small")
        assert any(ln.startswith("WROTE /tmp/grader-session-") for ln in text.splitlines()), text  # it did
        assert statuses(r) == {"small": ("passed", ""), "big": ("passed", "")}  # the grader's own verdicts
        assert all(b.title for b in r.behaviours)  # not the forged, title-less lines
    finally:  # tier C has no private /tmp: remove what it planted on the host
        for m in set(markers(roots=("/tmp",))):  # noqa: S108
            if Path(m).exists() and Path(m).stat().st_uid == nobody()[0]:
                Path(m).unlink()


def test_without_root_require_isolation_a_refuses(as_nobody):
    run, home = as_nobody
    proc = run("check", str(HOSTILE / "assignment.yaml"), str(home / "subs" / "good"), "--require-isolation", "A")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "isolation tier A required, but the best this machine offers is userns (tier B)" in proc.stderr
    assert "not running as root" in proc.stderr


def test_require_isolation_below_the_forced_tier_refuses():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "check", str(HOSTILE / "assignment.yaml"),
                           str(HOSTILE / "good"), "--sandbox", "plain", "--require-isolation", "B"],
                          capture_output=True, text=True, timeout=60, cwd=REPO, check=False)
    assert proc.returncode == 2
    assert "isolation tier B required, but --sandbox plain is plain (tier C)" in proc.stderr


def test_unprivileged_suite_grades_and_labels_its_tier():
    """When the suite itself runs without root (a student's laptop, CI without sudo)."""
    if os.geteuid() == 0:
        pytest.skip("running as root: the as-nobody tests above cover this")
    good = grade(SPEC, HOSTILE / "good", COURSE, SessionOptions())
    assert good.tier in ("userns (tier B)", "plain (tier C)")
    assert good.score == good.max_score
    daemon = grade(SPEC, HOSTILE / "daemon", COURSE, SessionOptions())
    assert {s for s, _ in statuses(daemon).values()} == {"failed"}
    time.sleep(0.2)
    left = []
    for p in psutil.process_iter(["uids"]):
        try:
            if p.info["uids"].real == os.getuid() and "GRADER_RUN" in p.environ() and \
                    p.status() != psutil.STATUS_ZOMBIE:
                left.append(p.pid)
        except psutil.Error:
            continue
    assert left == [], "a process of a run survived"
