"""The grader's observer (grader/sandbox/standalone/site/sitecustomize.py) and its records
(output.EvidenceFrames), without a sandbox: a plain interpreter with the observer on its PYTHONPATH, its stderr
parsed as the grader does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import grader
from grader.checks.static import matches
from grader.harness.evidence import observer_env
from grader.sandbox.output import FRAME_START, EvidenceFrames

# the installed package's, editable or not
SITE = Path(grader.__file__).resolve().parent / "sandbox" / "standalone" / "site"
NONCE = "0123456789abcdef"


def observe(tmp_path: Path, source: str, forbidden=(), greenlets=False) -> tuple[EvidenceFrames, bytes]:
    (tmp_path / "prog.py").write_text(source)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(SITE), **observer_env(NONCE, list(forbidden), greenlets)}
    proc = subprocess.run([sys.executable, "prog.py"], cwd=tmp_path, env=env, capture_output=True, timeout=30,
                          check=False)
    frames = EvidenceFrames()
    rest = frames.strip(proc.stderr, 0.0) + frames.flush()
    frames.returncode = proc.returncode  # for the seccomp tests
    return frames, rest


def kinds(frames: EvidenceFrames) -> list[tuple[str, str]]:
    return [(k, t) for _, k, t in frames.records if k not in ("hello", "seccomp")]


def test_hidden_import_and_call_are_reported_with_the_students_line(tmp_path: Path):
    source = ("import socket\nsel = __import__('sel' + 'ect')\nthr = __import__('thr' + 'eading')\n"
              "import sys; print('mine', file=sys.stderr)\nsel.select([], [], [], 0)\n")
    frames, rest = observe(tmp_path, source, forbidden=["select", "selectors", "threading"])
    assert frames.nonce == NONCE
    assert kinds(frames) == [("import", "threading prog.py:3"), ("call", "select.select prog.py:5")]
    assert rest == b"mine\n"  # the records are taken out of what the student's stderr shows
    assert frames.returncode == -31  # reported by the wrapper, then stopped by the kernel (SIGSYS)


ROUTE_AROUND = """\
import sys
fn = sys.modules['select'].select
fn = getattr(fn, '__func__', fn)
for cell in getattr(fn, '__closure__', None) or ():
    if type(cell.cell_contents).__name__ == 'builtin_function_or_method':
        fn = cell.cell_contents
print('dug out', fn, file=sys.stderr, flush=True)
fn([], [], [], 0)
print('not stopped', file=sys.stderr)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="seccomp is Linux's")
def test_a_readiness_call_around_the_wrapper_is_stopped_by_the_kernel(tmp_path: Path):
    frames, rest = observe(tmp_path, ROUTE_AROUND, forbidden=["select", "selectors"])
    assert ("seccomp", "on") in [(k, t) for _, k, t in frames.records]
    assert kinds(frames) == []  # the wrapper never saw it ...
    assert rest.startswith(b"dug out <built-in function select>")
    assert b"not stopped" not in rest
    assert frames.returncode == -31


@pytest.mark.skipif(sys.platform != "linux", reason="seccomp is Linux's")
def test_the_filter_is_only_where_readiness_is_forbidden_and_spares_correct_programs(tmp_path: Path):
    frames, _ = observe(tmp_path, "import select\nselect.select([], [], [], 0)\n", forbidden=["threading"])
    assert frames.returncode == 0
    assert "seccomp" not in [k for _, k, _t in frames.records]
    ok = ("import socket, selectors, time\na, b = socket.socketpair()\na.setblocking(False)\n"
          "b.send(b'x')\nprint(a.recv(1))\ntime.sleep(0.01)\n")  # selectors probes epoll on import: allowed
    frames, rest = observe(tmp_path, ok, forbidden=["select", "selectors"])
    assert (frames.returncode, rest) == (0, b"")


def test_library_imports_and_selectors_probing_on_import_are_not_the_students(tmp_path: Path):
    frames, _ = observe(tmp_path, "import socket, socketserver\n", forbidden=["select", "selectors", "threading"])
    assert frames.records[0][1] == "hello"
    assert kinds(frames) == []


def test_selectors_use_is_reported_and_still_works(tmp_path: Path):
    frames, rest = observe(tmp_path, "import selectors\ns = selectors.DefaultSelector()\ns.close()\n",
                           forbidden=["select", "selectors"])
    assert rest == b""  # no TypeError: the wrapper is not bound as a method in EpollSelector
    assert ("call", "select.epoll prog.py:2") in kinds(frames)


def test_nonce_is_erased_from_the_process_environment(tmp_path: Path):
    frames, rest = observe(tmp_path, "import os, sys\nsys.stderr.write(str(open('/proc/self/environ', 'rb')"
                                     ".read().count(b'" + NONCE + "')) + ' ' + str('GRADER_EVIDENCE' in os.environ))\n")
    assert rest == b"0 False"
    assert frames.records[0][1] == "hello"


def test_greenlets_that_ran_are_counted_and_dead_code_is_not(tmp_path: Path):
    pytest.importorskip("gevent")
    ran, _ = observe(tmp_path, "import gevent\ngevent.joinall([gevent.spawn(gevent.sleep, 0) for _ in range(3)])\n",
                     greenlets=True)
    assert ("greenlets", "3") in kinds(ran)
    dead, _ = observe(tmp_path, "import gevent\nif False:\n    gevent.spawn(print)\n", greenlets=True)
    assert not [k for k in kinds(dead) if k[0] == "greenlets"]


def test_greenlets_that_end_before_the_next_starts_are_each_counted(tmp_path: Path):
    # A handler that answers once and returns frees its greenlet before the next connection's is made, and the
    # next one often lands at the same address: counted by id() six of these looked like two.
    pytest.importorskip("gevent")
    ran, _ = observe(tmp_path, "import gevent\nfor _ in range(6):\n    gevent.spawn(gevent.sleep, 0).join()\n",
                     greenlets=True)
    assert ("greenlets", "6") in kinds(ran)


def test_frames_split_across_reads_forged_nonces_and_stray_separators():
    frames = EvidenceFrames()
    record = FRAME_START + b"aaaa hello 1 fd=900\x1e"
    out = b""
    for i in range(len(record)):  # one byte at a time: the record is reassembled, nothing leaks
        out += frames.strip(record[i:i + 1], 0.0)
    assert out == b""
    assert frames.records == [(0.0, "hello", "1 fd=900")]
    forged = FRAME_START + b"bbbb greenlets 50\x1e"
    assert frames.strip(b"x\x1ey" + forged + b"z", 1.0) == b"x\x1eyz"
    assert frames.records == [(0.0, "hello", "1 fd=900")]  # another nonce than the first: dropped
    long_junk = b"\x1egrader-evidence " + b"q" * 5000
    assert frames.strip(long_junk, 2.0) + frames.flush() == long_junk  # not a record of ours: shown as is


def test_matches_dotted_forbidden_names():
    assert matches("concurrent.futures", ["concurrent"])
    assert not matches("selectors", ["select"])


def test_describe_waits_leaves_out_unreadable_moments():
    from collections import Counter

    from grader.harness.evidence import describe_waits

    text = describe_waits(Counter({"clock_nanosleep": 25, "running": 3, "unknown": 2}))
    assert text == ("sleeping in clock_nanosleep() in 25 of 28 samples; running on a CPU in 3 of 28 samples")
