"""A grading session's own CPU, apart from its sandboxes', for chosen programs.

    .venv/bin/python benchmarks/session_cpu.py                       # four programs (three leaky, one reference)
    .venv/bin/python benchmarks/session_cpu.py select_server:reference/select_server ...

Each run is graded by a session forked from a preloaded interpreter (as the batch's warm starter does);
the session reports its own rusage (the grader: clients, observation loops, sandbox set-up) and its
waited-for children's (launchers, sandboxes, submissions). Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT = ["gevent_server:tests/programs/gevent_server/no_patch",
           "nonblocking_server:tests/programs/nonblocking_server/never_closes",
           "select_server:tests/programs/select_server/removed_not_closed",
           "select_server:reference/select_server"]


def _starter(argv, env, cwd, timeout):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        import pytest

        code = pytest.main(argv[3:])
        s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        os.write(w, f"{s.ru_utime + s.ru_stime} {c.ru_utime + c.ru_stime}".encode())
        os._exit(int(code))
    os.close(w)
    _, status, _ = os.wait4(pid, 0)
    _starter.last = tuple(float(x) for x in os.read(r, 200).split())
    os.close(r)
    return os.waitstatus_to_exitcode(status), ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("programs", nargs="*", default=DEFAULT, help="ASSIGNMENT:FOLDER (relative to the repo)")
    args = ap.parse_args()
    from grader.batch import warm
    from grader.session.runner import SessionOptions, grade
    from grader.spec import load_course, load_spec

    warm._preload()
    gc.collect()
    gc.freeze()
    course = load_course(REPO / "grader.yaml")
    print("| program | session's own CPU | its children's | wall | longest behaviour |\n|---|--:|--:|--:|--:|")
    for item in args.programs:
        assignment, folder = item.split(":", 1)
        spec = load_spec(course.assignments_path / assignment / "assignment.yaml")
        t0 = time.monotonic()
        result = grade(spec, REPO / folder, course, SessionOptions(starter=_starter))
        own, children = _starter.last
        longest = max(result.behaviours, key=lambda b: b.duration)
        print(f"| {folder} | {own:.2f} s | {children:.2f} s | {time.monotonic() - t0:.1f} s | "
              f"{longest.id} {longest.duration:.1f} s |")


if __name__ == "__main__":
    main()
