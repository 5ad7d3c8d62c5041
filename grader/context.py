"""What a check works with: the spec, a fresh sandboxed run of the submission, clients, observations."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import psutil

from grader.client import Client, Transcript
from grader.failure import BehaviourFailed
from grader.sandbox import Launch, Limits, Run, Sandbox
from grader.sandbox.procfs import owned_sockets, where_stuck
from grader.spec import Behaviour, Course, Spec

WILDCARDS = {"0.0.0.0", "::"}
# A server listening only on another address is given this long to listen on the right one too.
WRONG_ADDRESS_GRACE = 0.5
SITE_DIR = Path(__file__).with_name("site")  # trusted helpers injected into the submission (sitecustomize)


def sched_seconds(pids: list[int]) -> tuple[float, float]:
    run = wait = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                    f = fh.read().split()
                run, wait = run + int(f[0]), wait + int(f[1])
            except (OSError, ValueError, IndexError):
                continue
    return run / 1e9, wait / 1e9


def _any_runnable(run: Run) -> bool:
    for p in run.processes():
        try:
            if p.status() == psutil.STATUS_RUNNING:
                return True
        except psutil.Error:
            continue
    return False


class Context:
    def __init__(self, spec: Spec, behaviour: Behaviour, submission: Path, course: Course, sandbox: Sandbox,
                 seed: int, run_as: tuple[int, int] | None = None) -> None:
        self.spec = spec
        self.behaviour = behaviour
        self.submission = submission
        self.course = course
        self.sandbox = sandbox
        self.seed = seed
        self.run_as = run_as
        self.rng = random.Random(seed)
        self.transcript = Transcript()
        self.runs: list[Run] = []
        self.teardowns: list = []
        self._clients: list[Client] = []

    # --- the submission --------------------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        return self.spec.address.host, self.spec.address.port

    @property
    def entry_path(self) -> Path:
        return self.submission / self.spec.entry

    def source(self) -> str:
        return self.entry_path.read_text(encoding="utf-8", errors="replace")

    def launch(self) -> Launch:
        d = self.course.defaults
        env = {}
        pythonpath: tuple[Path, ...] = ()
        if self.spec.options.windows_accept_inherits_nonblocking:
            pythonpath = (SITE_DIR,)
            env["GRADER_WINDOWS_ACCEPT"] = "1"
        return Launch(self.submission, self.spec.entry,
                      self.address if self.spec.kind == "server" else None,
                      Limits(output_cap_bytes=d.output_cap_bytes), env=env, pythonpath=pythonpath,
                      run_as=self.run_as)

    def start(self) -> Run:
        """Start the submission; for a server, wait until it listens on the spec's address."""
        run = self.sandbox.start(self.launch())
        self.runs.append(run)
        self.transcript.log("grader", f"started {self.spec.entry} ({run.tier} sandbox)")
        if self.spec.kind == "server":
            self.wait_listening(run)
        return run

    @property
    def server(self) -> Run:
        return self.runs[-1]

    def wait_exit(self, timeout: float) -> int | None:
        """For scripts: wait until the program exits (and its output is drained); None if it did not."""
        run = self.server
        deadline = time.monotonic() + timeout
        while run.alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if run.alive():
            self.transcript.log("grader", f"still running after {timeout:.1f} s")
            return None
        try:  # the main process is gone; the sandbox's own processes follow within moments
            run.popen.wait(timeout=5)
        except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired: reported as code None below
            pass
        run.stdout.wait_closed(2.0)
        run.stderr.wait_closed(2.0)
        code = run.exit_code
        self.transcript.log("grader", f"exited with code {code} after {run.elapsed():.2f} s")
        return code

    def output_lines(self) -> list[tuple[float, str]]:
        """(seconds since start, line) of the program's stdout, stamped as each line arrived."""
        return list(self.server.stdout.lines)

    def wait_listening(self, run: Run) -> None:
        """Wait for LISTEN on the spec's address. On a loaded machine the start-up timeout is stretched
        (up to 3x) by the time the server spent waiting for a CPU, and while it is still runnable. A server
        that listens only elsewhere (the wrong port) fails fast, with that as the headline."""
        timeout = self.spec.startup_timeout or self.course.defaults.startup_timeout
        host, port = self.address
        start = time.monotonic()
        hard_deadline = start + 3 * timeout
        elsewhere: set[str] = set()
        seen_elsewhere: float | None = None
        while True:
            now = time.monotonic()
            waited = sched_seconds([p.pid for p in run.processes()])[1] if now - start >= timeout else 0.0
            if now >= hard_deadline or (now >= start + timeout + waited and not _any_runnable(run)):
                break
            if seen_elsewhere is not None and now - seen_elsewhere >= WRONG_ADDRESS_GRACE:
                break
            procs = run.processes()
            for _pid, _fd, s in owned_sockets([p.pid for p in procs]):
                if s.state != "LISTEN":
                    continue
                if s.local[1] == port and (s.local[0] == host or s.local[0] in WILDCARDS):
                    self.transcript.log("grader", f"server listening on {host}:{port} after {run.elapsed():.2f} s")
                    return
                elsewhere.add(f"{s.local[0]}:{s.local[1]}")
                seen_elsewhere = seen_elsewhere or now
            if not run.alive() and run.exit_code is not None:
                self.transcript.log("grader", f"server exited with code {run.exit_code} before listening")
                raise BehaviourFailed(
                    "the server exited before it listened",
                    expected=f"a server listening on {host}:{port}",
                    observed=f"the process exited with code {run.exit_code} after {run.elapsed():.2f} s",
                    reason="crashed", evidence={"stage": "start"},
                )
            time.sleep(0.01)
        if elsewhere:
            there = ", ".join(sorted(elsewhere))
            self.transcript.log("grader", f"listening on {there}, not on {host}:{port}")
            raise BehaviourFailed(
                f"the server listens on {there} instead of {host}:{port}",
                expected=f"a socket listening on {host}:{port}, the address the assignment gives "
                         f"(bind(('{host}', {port})))",
                observed=f"a socket listening on {there} and none on {host}:{port} "
                         f"{WRONG_ADDRESS_GRACE:.1f} s later",
                reason="wrong_address", evidence={"stage": "start", "listening_on": sorted(elsewhere)},
            )
        main = run.main_pid()
        doing = where_stuck(main) if main else None
        where = f"; meanwhile its main thread is {doing}" if doing else ""
        self.transcript.log("grader", f"nothing listening on {host}:{port} after {time.monotonic() - start:.1f} s")
        raise BehaviourFailed(
            "the server never listened",
            expected=f"a socket listening on {host}:{port} within {timeout:.1f} s of start",
            observed=f"no listening socket on {host}:{port}{where}",
            reason="never_listened", evidence={"stage": "start"},
        )

    # --- clients ----------------------------------------------------------------------------------------
    def client(self, name: str | None = None, timeout: float = 2.0, connect: bool = True,
               quiet: bool = False) -> Client:
        """A client of the current server; `quiet` ones log only their failures."""
        name = name or f"client{len(self._clients) + 1}"
        c = Client(self.server.socket, self.address, self.transcript, name, timeout, quiet=quiet)
        self._clients.append(c)
        if connect:
            c.connect()
        return c

    def payload(self, size: int) -> bytes:
        from grader.client import payload

        return payload(self.rng, size)

    def log(self, text: str) -> None:
        self.transcript.log("grader", text)

    # --- observations -----------------------------------------------------------------------------------
    def sched_seconds(self) -> tuple[float, float]:
        """(seconds on a CPU, seconds runnable but waiting for one), summed over every thread of the
        submission, from /proc/PID/task/TID/schedstat. Their sum is how much CPU the server *wanted*,
        which a loaded machine does not shrink the way it shrinks the CPU time actually given."""
        return sched_seconds([p.pid for p in self.server.processes()])

    def cpu_seconds(self) -> float:
        """User + system CPU time of the submission, from the kernel (the run's cgroup where it has one)."""
        return self.server.cpu_seconds()

    def require_alive(self, after: str) -> None:
        run = self.server
        if not run.alive():
            raise BehaviourFailed(
                f"the server died {after}",
                expected="the server keeps running and serving other clients",
                observed=f"the server process exited with code {run.exit_code}",
                reason="crashed",
            )

    # --- teardown ---------------------------------------------------------------------------------------
    def close(self) -> None:
        for c in self._clients:
            try:
                c.discard()
            except OSError:
                pass
        for run in self.runs:
            self.teardowns.append(run.stop())
