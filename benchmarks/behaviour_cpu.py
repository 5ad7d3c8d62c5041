"""Where a behaviour's CPU goes on this machine, part by part (tier A: bwrap + cgroups, as root).

    .venv/bin/python benchmarks/behaviour_cpu.py [--repeats N]

Every behaviour starts its own sandboxed server. This measures, each as the median CPU (user + system, of
this process and its waited-for children) over N repetitions:

    cgroup create + remove     the run's v2 group and its v1 pids/memory/cpu groups (in the grader)
    launcher interpreter       `python -I -S -c pass`: launch.py's interpreter alone
    launcher                   `launch.py --tcp-hash 1024 --exec -- /bin/true`: the interpreter, the launcher's
                               imports, its option parsing and the run's own TCP hash, then the exec
    setpriv + bwrap            `setpriv ... bwrap <the sandbox's namespaces and mounts> /bin/true`
    server interpreter         `python -c "import socket, select"`: the submission's own start, with the
                               interpreter submissions run with (grader/runtime.py) and with the grader's
    gevent server start        `python -c "from gevent import monkey; monkey.patch_all()"`, the same two ways
    sandbox start + stop       all of it through the sandbox API, a server that only sleeps
    whole behaviours           a warm run of the select_server reference, minus its session's fixed cost,
                               per behaviour: the above plus the grader's clients and observation loops

It measures only; it changes nothing (the sandbox belongs to grader/sandbox/*).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _self_cpu() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    return s.ru_utime + s.ru_stime


def _median_cpu(fn, repeats: int, clock=_cpu) -> float:
    fn()  # warm the page cache and the imports
    samples = []
    for _ in range(repeats):
        c0 = clock()
        fn()
        samples.append(clock() - c0)
    return statistics.median(samples)


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(repeats: int) -> dict[str, float]:
    from grader.sandbox import Launch, Limits, choose_sandbox
    from grader.sandbox.cgroup import RunCgroup, detect

    out: dict[str, float] = {}
    layout = detect()
    if layout.v2 is not None:
        out["cgroup create + remove"] = _median_cpu(
            lambda: RunCgroup.create(layout, memory_bytes=256 << 20, processes=64, cpus=1.0).remove(), repeats)
    out["launcher interpreter (python -I -S)"] = _median_cpu(lambda: _run([sys.executable, "-I", "-S", "-c", "pass"]),
                                                             repeats)
    from grader.sandbox.host import TCP_HASH
    from grader.sandbox.standalone import LAUNCHER

    out["launcher (launch.py --tcp-hash --exec -- /bin/true)"] = _median_cpu(
        lambda: _run([sys.executable, "-I", "-S", str(LAUNCHER), "--tcp-hash", str(TCP_HASH), "--exec", "--",
                      "/bin/true"]), repeats)
    bwrap, setpriv = shutil.which("bwrap"), shutil.which("setpriv")
    if bwrap and setpriv:
        argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--", bwrap, "--unshare-all",
                "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session", "--ro-bind", "/", "/",
                "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--", "/bin/true"]  # noqa: S108 - bwrap's own tmpfs
        out["setpriv + bwrap (namespaces, mounts)"] = _median_cpu(lambda: _run(argv), repeats)
    from grader.runtime import current

    rt = current()
    pythons = {"grader's own": sys.executable} if rt.own else {"student runtime": rt.python,
                                                                 "grader's own": sys.executable}
    for label, python in pythons.items():
        out[f"server interpreter, {label} (python, import socket)"] = _median_cpu(
            lambda python=python: _run([python, "-c", "import socket, select"]), repeats)
    for label, python in pythons.items():
        out[f"gevent server start, {label} (monkey.patch_all())"] = _median_cpu(
            lambda python=python: _run([python, "-c", "from gevent import monkey; monkey.patch_all()"]), repeats)
    sandbox = choose_sandbox(announce=False)
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 - the sandbox's uid must read the server
        (Path(tmp) / "server.py").write_text("import time\ntime.sleep(60)\n")

        def start_stop() -> None:
            run = sandbox.start(Launch(Path(tmp), "server.py", None, Limits()))
            deadline = time.monotonic() + 5
            while not run.processes() and time.monotonic() < deadline:
                time.sleep(0.002)
            run.stop()

        def start_wait_stop(alive: float = 0.3) -> None:  # without the 2 ms polling, the run kept alive a while
            run = sandbox.start(Launch(Path(tmp), "server.py", None, Limits()))
            time.sleep(alive)
            run.stop()

        out[f"sandbox start + stop ({sandbox.tier}), stopped as soon as the launcher shows"] = _median_cpu(
            start_stop, repeats)
        out["sandbox start + server start + stop (alive 0.3 s): all of the above"] = _median_cpu(
            start_wait_stop, repeats)
        out["  of which in the grader's own process (Popen, drain threads, stop, cgroup)"] = _median_cpu(
            start_wait_stop, repeats, clock=_self_cpu)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args()
    parts = measure(args.repeats)
    print(f"CPU per behaviour, by part (median of {args.repeats}):")
    print("| part | CPU |\n|---|--:|")
    for name, cpu in parts.items():
        print(f"| {name} | {cpu * 1000:.1f} ms |")


if __name__ == "__main__":
    main()
