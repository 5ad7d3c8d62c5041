"""What a check works with: the spec, a fresh sandboxed run of the submission, clients, observations."""

from __future__ import annotations

import random
import time
from pathlib import Path

from grader.client import Client, Transcript
from grader.failure import BehaviourFailed, NotObservable
from grader.sandbox import Launch, Limits, Run, Sandbox, Snapshot
from grader.spec import Behaviour, Course, Spec

WILDCARDS = {"0.0.0.0", "::"}
SITE_DIR = Path(__file__).with_name("site")  # trusted helpers injected into the submission (sitecustomize)


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
        run.wait(timeout=5)  # the main process is gone; the sandbox's own processes follow within moments
        code = run.exit_code
        self.transcript.log("grader", f"exited with code {code} after {run.elapsed():.2f} s")
        return code

    def output_lines(self) -> list[tuple[float, str]]:
        """(seconds since start, line) of the program's stdout, stamped as each line arrived."""
        return list(self.server.stdout.lines)

    def wait_listening(self, run: Run) -> None:
        """Wait for LISTEN on the spec's address. On a loaded machine the start-up timeout is stretched
        (up to 3x) by the time the server spent waiting for a CPU, and while it is still runnable."""
        timeout = self.spec.startup_timeout or self.course.defaults.startup_timeout
        host, port = self.address
        start = time.monotonic()
        hard_deadline = start + 3 * timeout
        elsewhere: set[str] = set()
        observable = False  # for a moment after the fork a process may still be the launcher's, unreadable
        while True:
            now = time.monotonic()
            snap = run.snapshot()
            observable = observable or snap.sockets is not None
            sched = snap.sched_seconds()
            waited = sched[1] if sched and now - start >= timeout else 0.0
            if now >= hard_deadline or (now >= start + timeout + waited and not snap.any_runnable()):
                break
            for s in snap.in_state("LISTEN"):
                if s.local[1] == port and (s.local[0] == host or s.local[0] in WILDCARDS):
                    self.transcript.log("grader", f"server listening on {host}:{port} after {run.elapsed():.2f} s")
                    return
                elsewhere.add(f"{s.local[0]}:{s.local[1]}")
            if not run.alive() and run.exit_code is not None:
                self.transcript.log("grader", f"server exited with code {run.exit_code} before listening")
                raise BehaviourFailed(
                    "the server exited before it listened",
                    expected=f"a server listening on {host}:{port}",
                    observed=f"the process exited with code {run.exit_code} after {run.elapsed():.2f} s",
                    reason="crashed",
                )
            time.sleep(0.01)
        if not observable and run.alive():
            raise NotObservable("the server's listening socket",
                                f"its sockets are not visible to the {run.observer.name} observer")
        where = f"; it listens on {', '.join(sorted(elsewhere))} instead" if elsewhere else ""
        doing = run.snapshot().where_stuck()
        if doing and not elsewhere:
            where += f"; meanwhile its main thread is {doing}"
        self.transcript.log("grader", f"nothing listening on {host}:{port} after {time.monotonic() - start:.1f} s")
        raise BehaviourFailed(
            "the server never listened",
            expected=f"a socket listening on {host}:{port} within {timeout:.1f} s of start",
            observed=f"no listening socket on {host}:{port}{where}",
            reason="never_listened",
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
    def snapshot(self) -> Snapshot:
        """The server's processes, threads, fds, sockets and CPU right now, as plain data."""
        return self.server.snapshot()

    def sched_seconds(self) -> tuple[float, float]:
        """(seconds on a CPU, seconds runnable but waiting for one), summed over every thread of the
        submission, from /proc/PID/task/TID/schedstat. Their sum is how much CPU the server *wanted*,
        which a loaded machine does not shrink the way it shrinks the CPU time actually given. Where
        schedstat is not observable (psutil), the CPU time given, and no wait."""
        snap = self.server.snapshot()
        sched = snap.sched_seconds()
        return sched if sched is not None else (sum(p.cpu_seconds for p in snap.processes), 0.0)

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
