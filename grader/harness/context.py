"""What a check works with: the spec, a fresh sandboxed run of the submission, clients, observations."""

from __future__ import annotations

import random
import secrets
import time
from pathlib import Path

from grader.failure import BehaviourFailed, NotObservable
from grader.harness.client import Client, Transcript, payload
from grader.harness.evidence import observer_env
from grader.i18n import _
from grader.sandbox import Launch, Limits, RunView, Sandbox, Snapshot, Teardown, intake
from grader.sandbox.standalone import SITE_DIR
from grader.spec import Behaviour, Course, Spec

WILDCARDS = {"0.0.0.0", "::"}
# A server listening only on another address is given this long to listen on the right one too.
WRONG_ADDRESS_GRACE = 0.5
PROGRESS_WINDOW = 0.5  # s: CPU used within it means a server is still starting
PROGRESS_CPU = 0.005  # s
LISTEN_POLL_MIN, LISTEN_POLL_MAX = 0.01, 0.05  # s between looks for the listening socket (each a snapshot)


class _StartProgress:
    """Is a server that does not listen yet still starting? Yes while one of its processes is runnable or in
    disk I/O, or its CPU time grew within the last PROGRESS_WINDOW seconds (a process that sleeps in page
    faults between bursts of work shows as sleeping at most instants). A server blocked in accept() on
    another address, in input() or in a sleep uses no CPU: it is not waited for."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []  # (when, CPU seconds so far)

    def still_starting(self, now: float, snap: Snapshot) -> bool:
        cpu = sum((p.run_seconds if p.run_seconds is not None else p.cpu_seconds) for p in snap.processes)
        self.samples.append((now, cpu))
        while len(self.samples) > 2 and self.samples[1][0] <= now - PROGRESS_WINDOW:
            self.samples.pop(0)
        if any(p.state in ("R", "D") for p in snap.processes):
            return True
        first = self.samples[0]
        return now - first[0] >= PROGRESS_WINDOW / 2 and cpu - first[1] >= PROGRESS_CPU

    def describe(self) -> str:
        cpu = self.samples[-1][1] if self.samples else 0.0
        return _("it used {seconds} s of CPU").format(seconds=f"{cpu:.2f}")


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
        self.evidence_nonce = secrets.token_hex(8)  # marks the records of the grader's observer in its runs
        self.transcript = Transcript()
        self.runs: list[RunView] = []
        self.teardowns: list[Teardown] = []
        self._clients: list[Client] = []

    # --- the submission --------------------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        return self.spec.address.host, self.spec.address.port

    @property
    def entry_path(self) -> Path:
        return self.validated() / self.spec.entry  # the validated copy, never the original

    def validated(self) -> Path:
        """The session's validated copy of the submission (grader/sandbox/intake.py); raises
        SubmissionRejected (a BehaviourFailed) when the submission holds a link, a special file or too much."""
        return intake.validated(self.submission, intake.caps_of(self.course.defaults), self.spec.entry)

    def source(self) -> str:
        """The entry file's text, from the validated copy, as a regular file within the entry cap."""
        return intake.read_entry(self.validated(), self.spec.entry, self.course.defaults.entry_max_bytes)

    def launch(self) -> Launch:
        d = self.course.defaults
        params = self.behaviour.params
        # the grader's observer is in every run (sandbox/standalone/site/sitecustomize.py); what it watches
        # depends on the behaviour: the modules it forbids, greenlets where it counts them
        env = observer_env(self.evidence_nonce, list(params.get("forbidden_imports") or []),
                           bool(params.get("greenlets_at_least")))
        pythonpath: tuple[Path, ...] = (SITE_DIR,)
        if self.spec.options.windows_accept_inherits_nonblocking:
            env["GRADER_WINDOWS_ACCEPT"] = "1"
        return Launch(self.validated(), self.spec.entry,
                      self.address if self.spec.kind == "server" else None,
                      Limits(output_cap_bytes=d.output_cap_bytes), env=env, pythonpath=pythonpath,
                      run_as=self.run_as)

    def start(self) -> RunView:
        """Start the submission; for a server, wait until it listens on the spec's address."""
        run = self.sandbox.start(self.launch())
        self.runs.append(run)
        self.transcript.log("grader", _("started {entry} ({tier} sandbox)").format(entry=self.spec.entry,
                                                                                  tier=run.tier))
        if self.spec.kind == "server":
            self.wait_listening(run)
        return run

    @property
    def server(self) -> RunView:
        return self.runs[-1]

    def wait_exit(self, timeout: float) -> int | None:
        """For scripts: wait until the program exits (and its output is drained); None if it did not."""
        run = self.server
        deadline = time.monotonic() + timeout
        while run.alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if run.alive():
            self.transcript.log("grader", _("still running after {seconds} s").format(seconds=f"{timeout:.1f}"))
            return None
        run.wait(timeout=5)  # the main process is gone; the sandbox's own processes follow within moments
        code = run.exit_code
        self.transcript.log("grader", _("exited with code {code} after {seconds} s").format(
            code=code, seconds=f"{run.elapsed():.2f}"))
        return code

    def output_lines(self) -> list[tuple[float, str]]:
        """(seconds since start, line) of the program's stdout, stamped as each line arrived."""
        return list(self.server.stdout.lines)

    def wait_listening(self, run: RunView) -> None:
        """Wait for LISTEN on the spec's address. On a loaded machine the start-up timeout is stretched
        (up to 3x): by the time the server spent waiting for a CPU, and for as long as it is still starting
        (runnable, in disk I/O, or its CPU time still growing: an interpreter importing gevent on a slow or
        cold machine can sleep in page faults between bursts). A server that listens only elsewhere (the wrong
        port) fails fast, with that as the headline. The verdict is never decided on a snapshot older than the
        deadline."""
        timeout = self.spec.startup_timeout or self.course.defaults.startup_timeout
        host, port = self.address
        start = time.monotonic()
        hard_deadline = start + 3 * timeout
        elsewhere: set[str] = set()
        observable = False  # for a moment after the fork a process may still be the launcher's, unreadable
        seen_elsewhere: float | None = None
        progress = _StartProgress()
        interval = LISTEN_POLL_MIN  # a quick server is seen within ms; a slow start is not read 100 times a second
        while True:
            now = time.monotonic()
            snap = run.snapshot()
            observable = observable or snap.sockets is not None
            for s in snap.in_state("LISTEN"):
                if s.local[1] == port and (s.local[0] == host or s.local[0] in WILDCARDS):
                    capped = self._cap_cpu(run)
                    note = (_(" (from now on it may use {cores} of a core)").format(cores=f"{capped:g}") if capped
                            else "")
                    self.transcript.log("grader", _("server listening on {address} after {seconds} s{note}").format(
                        address=f"{host}:{port}", seconds=f"{run.elapsed():.2f}", note=note))
                    return
                elsewhere.add(f"{s.local[0]}:{s.local[1]}")
                seen_elsewhere = seen_elsewhere or now
            starting = progress.still_starting(now, snap)
            sched = snap.sched_seconds()
            waited = sched[1] if sched and now - start >= timeout else 0.0
            if now >= hard_deadline or (now >= start + timeout + waited and not starting):
                break
            if seen_elsewhere is not None and now - seen_elsewhere >= WRONG_ADDRESS_GRACE:
                break
            if not run.alive() and run.exit_code is not None:
                self.transcript.log("grader", _("server exited with code {code} before listening").format(
                    code=run.exit_code))
                raise BehaviourFailed(
                    _("the server exited before it listened"),
                    expected=_("a server listening on {address}").format(address=f"{host}:{port}"),
                    observed=_("the process exited with code {code} after {seconds} s").format(
                        code=run.exit_code, seconds=f"{run.elapsed():.2f}"),
                    reason="crashed", evidence={"stage": "start"},
                )
            time.sleep(interval)
            interval = min(LISTEN_POLL_MAX, interval * 1.25)
        if not observable and run.alive():
            raise NotObservable(_("the server's listening socket"),
                                _("its sockets are not visible to the {observer} observer").format(
                                    observer=run.observer_name))
        if elsewhere:
            there = ", ".join(sorted(elsewhere))
            self.transcript.log("grader", _("listening on {there}, not on {address}").format(
                there=there, address=f"{host}:{port}"))
            raise BehaviourFailed(
                _("the server listens on {there} instead of {address}").format(there=there, address=f"{host}:{port}"),
                expected=_("a socket listening on {address}, the address the assignment gives ({code})").format(
                    address=f"{host}:{port}", code=f"bind(('{host}', {port}))"),
                observed=_("a socket listening on {there} and none on {address} {seconds} s later").format(
                    there=there, address=f"{host}:{port}", seconds=f"{WRONG_ADDRESS_GRACE:.1f}"),
                reason="wrong_address", evidence={"stage": "start", "listening_on": sorted(elsewhere)},
            )
        doing = snap.where_stuck()
        where = _("; meanwhile its main thread is {doing}").format(doing=doing) if doing else ""
        self.transcript.log("grader", _("nothing listening on {address} after {seconds} s ({progress})").format(
            address=f"{host}:{port}", seconds=f"{time.monotonic() - start:.1f}", progress=progress.describe()))
        raise BehaviourFailed(
            _("the server never listened"),
            expected=_("a socket listening on {address} within {seconds} s of start").format(
                address=f"{host}:{port}", seconds=f"{timeout:.1f}"),
            observed=_("no listening socket on {address}{where}").format(address=f"{host}:{port}", where=where),
            reason="never_listened", evidence={"stage": "start"},
        )

    def _cap_cpu(self, run: RunView) -> float | None:
        """Once a server listens, hold it to the course's `server_cpus_once_listening` (where the tier has
        CPU cgroups), so a server that spins by design does not take a whole core from the batch's other
        runs. idle_cpu counts the time the cap holds it back as busy. The cap, or None if none was set."""
        cpus = self.course.defaults.server_cpus_once_listening
        return cpus if cpus > 0 and run.cap_cpu(cpus) else None

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

    def throttled_seconds(self) -> float:
        """How long the run's CPU cap held the server back (it wanted a CPU and was not allowed one)."""
        return self.server.throttled_seconds()

    def require_alive(self, after: str) -> None:
        run = self.server
        if not run.alive():
            raise BehaviourFailed(
                _("the server died {after}").format(after=after),
                expected=_("the server keeps running and serving other clients"),
                observed=_("the server process exited with code {code}").format(code=run.exit_code),
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
