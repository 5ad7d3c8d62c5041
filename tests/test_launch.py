"""The launcher's own option parser (launch.py reads its options without argparse, to start cheaply)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from grader.sandbox.standalone import LAUNCHER, launch


def test_options_flags_values_lists_and_the_program_after_the_separator():
    o = launch.parse_args(["--exec", "--cgroup-procs", "/a", "--cgroup-procs=/b", "--tcp-hash", "1024",
                           "--uid=60001", "--cwd", "/w", "--", "/usr/bin/python3", "--exec", "x.py"])
    assert (o.exec, o.netns, o.userns) == (True, False, False)
    assert (o.cgroup_procs, o.expose) == (["/a", "/b"], [])
    assert (o.tcp_hash, o.uid, o.gid, o.cwd) == (1024, 60001, None, "/w")
    assert o.argv == ["/usr/bin/python3", "--exec", "x.py"]  # the program's own options stay its own


def test_defaults_without_options():
    o = launch.parse_args(["--", "/bin/true"])
    assert (o.exec, o.tcp_hash, o.nofile, o.cgroup_procs, o.argv) == (False, 0, None, [], ["/bin/true"])


@pytest.mark.parametrize(("args", "message"), [
    (["--bogus", "--", "/bin/true"], "unrecognized argument: --bogus"),
    (["--uid", "x", "--", "/bin/true"], "argument --uid: invalid int value: 'x'"),
    (["--cwd"], "argument --cwd: expected one argument"),
    (["--exec=1", "--", "/bin/true"], "unrecognized argument: --exec=1"),
])
def test_a_bad_option_is_a_usage_error_from_the_real_launcher(args, message):
    proc = subprocess.run([sys.executable, "-I", "-S", str(LAUNCHER), *args], capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_the_real_launcher_execs_the_program_with_its_arguments():
    proc = subprocess.run([sys.executable, "-I", "-S", str(LAUNCHER), "--exec", "--", "/bin/echo", "--uid", "a"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert (proc.returncode, proc.stdout) == (0, "--uid a\n")
