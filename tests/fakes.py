"""The sandbox's fake twin (httpx's MockTransport, for our boundary): runs whose observations are scripted
and whose server is a Python function on a loopback thread. No root, no process, milliseconds.

    sandbox = FakeSandbox(serve=upper_echo, observe=lambda run: snapshot(listening(), threads=1))
    result = grade_behaviour(spec, behaviour, submission, course, sandbox, seed=1)

Real-process tests (tests/test_corpus.py) stay the proof that the real sandboxes answer the same
observations; these only test what the checks make of them, and the wording.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from grader.sandbox import RunView, Snapshot, Teardown, Tier
from grader.sandbox.observe import Fd, Process, TcpSocket
from grader.sandbox.output import EvidenceFrames
from grader.sandbox.types import Launch

ADDRESS = ("127.0.0.1", 9000)  # what the checks believe; the fake server really listens elsewhere


def upper_echo(conn: socket.socket) -> None:
    """A correct server's connection handler: every message back upper-cased, until the client leaves."""
    while True:
        try:
            data = conn.recv(65536)
        except OSError:
            return
        if not data:
            return
        conn.sendall(data.upper())


def silent(conn: socket.socket) -> None:
    """A server that accepts, reads, and never answers (until the client leaves)."""
    while True:
        try:
            if not conn.recv(65536):
                return
        except OSError:
            return


def lowercase_echo(conn: socket.socket) -> None:
    """A buggy server: echoes without upper-casing."""
    while True:
        try:
            data = conn.recv(65536)
        except OSError:
            return
        if not data:
            return
        conn.sendall(data)


class FakeServer:
    """A loopback listener; each accepted connection is served by `handler` on its own thread."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._handler = handler
        threading.Thread(target=self._accept, daemon=True, name="fake-server").start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._handler(conn)
        except OSError:
            pass  # a client that reset: what the check does about it is the check's business
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for c in self._conns:
            try:
                c.close()
            except OSError:
                pass


class _Redirected(socket.socket):
    """A client socket whose connect() goes to the fake server, whatever address the check dials."""

    target: tuple[str, int] = ("127.0.0.1", 0)

    def connect(self, address) -> None:  # noqa: ARG002 - the check's address is the pretend one
        super().connect(self.target)


# --- building snapshots ------------------------------------------------------------------------------------
def proc(pid: int = 100, *, threads: int = 1, fds: tuple[Fd, ...] | None = (), cpu: float = 0.0,
         run: float | None = 0.0, wait: float | None = 0.0, state: str = "S",
         syscall: tuple[str, tuple[int, ...]] | None = None) -> Process:
    return Process(pid, state, cpu, run, wait, threads, fds, syscall)


def sock(fd: int, state: str, pid: int = 100, port: int = 9000, peer: int = 0) -> TcpSocket:
    return TcpSocket(pid, fd, ("127.0.0.1", port), ("127.0.0.1", peer) if peer else ("0.0.0.0", 0), state)


def server_snapshot(*, conns: tuple[str, ...] = (), threads: int = 1, processes: int = 1, cpu: float = 0.0,
                    run: float | None = 0.0, nonblocking: tuple[bool | None, ...] | None = None,
                    extra_fds: int = 0, syscall: tuple[str, tuple[int, ...]] | None = None,
                    sockets_visible: bool = True, fds_visible: bool = True) -> Snapshot:
    """A server listening on fd 3, with one connection socket per entry of `conns` (its TCP state) on fds
    4, 5, ...; `nonblocking` gives each socket's O_NONBLOCK (listener first), default all True."""
    states = ("LISTEN", *conns)
    flags = nonblocking if nonblocking is not None else (True,) * len(states)
    fds = tuple(Fd(3 + i, 1000 + i, flags[i] if i < len(flags) else True) for i in range(len(states)))
    fds = (Fd(0, None, False), Fd(1, None, False), Fd(2, None, False), *fds,
           *(Fd(100 + i, None, False) for i in range(extra_fds)))
    socks = tuple(sock(3 + i, st, peer=0 if st == "LISTEN" else 40000 + i) for i, st in enumerate(states))
    main = proc(100, threads=threads, fds=fds if fds_visible else None, cpu=cpu, run=run, syscall=syscall)
    others = tuple(proc(101 + i, fds=() if fds_visible else None) for i in range(processes - 1))
    return Snapshot((main, *others), socks if sockets_visible and fds_visible else None)


# --- the fake sandbox ----------------------------------------------------------------------------------------
@dataclass
class FakeOutput:
    data: bytes = b""
    total: int = 0
    capped: bool = False
    cap: int = 1 << 20
    lines: list[tuple[float, str]] = field(default_factory=list)
    frames: EvidenceFrames = field(default_factory=EvidenceFrames)  # the grader observer's records
    closed: threading.Event = field(default_factory=threading.Event)
    pipe_inode: int | None = None

    def text(self) -> str:
        return self.data.decode()

    def tail(self, max_chars: int = 2000) -> str:
        return self.text()[-max_chars:]

    def wait_closed(self, timeout: float) -> bool:
        return True


class FakeRun:
    tier = "fake (tier F)"

    def __init__(self, serve: Callable[[socket.socket], None],
                 observe: Callable[[FakeRun], Snapshot], exit_code: int | None = None,
                 stderr: bytes = b"", nonce: str | None = None,
                 evidence: list[tuple[str, str]] | None = None,
                 throttled: Callable[[], float] | None = None) -> None:
        self.server = FakeServer(serve)
        self._throttled = throttled  # None: a run without a CPU cgroup (cap_cpu refuses)
        self.cpu_cap: float | None = None
        self._observe = observe
        self._exit_code = exit_code
        self.observer_name = "fake"
        self.snapshots = 0
        self.stdout, self.stderr = FakeOutput(), FakeOutput(stderr, len(stderr))
        # the grader's observer inside a real run says hello under the run's nonce, then what it saw;
        # `evidence` scripts what it saw (kind, text), None: a plain hello, []: an observer that was silenced
        if nonce is not None and evidence != []:
            self.stderr.frames.nonce = nonce
            self.stderr.frames.records = [(0.0, "hello", "fd=900"), *((0.0, k, t) for k, t in evidence or ())]
        self.memory_peak: int | None = None
        self.t0 = time.monotonic()
        self.stopped = False

    def snapshot(self) -> Snapshot:
        self.snapshots += 1
        if self.stopped or self._exit_code is not None:
            return Snapshot((), ())
        return self._observe(self)

    def cpu_seconds(self) -> float:
        return sum(p.cpu_seconds for p in self.snapshot().processes)

    def cap_cpu(self, cpus: float) -> bool:
        if self._throttled is None:
            return False
        self.cpu_cap = cpus
        return True

    def throttled_seconds(self) -> float:
        return self._throttled() if self._throttled is not None and self.cpu_cap is not None else 0.0

    def socket(self, family: int = socket.AF_INET) -> socket.socket:
        s = _Redirected(family, socket.SOCK_STREAM)
        s.target = ("127.0.0.1", self.server.port)
        return s

    def alive(self) -> bool:
        return self._exit_code is None and not self.stopped

    @contextlib.contextmanager
    def frozen(self):
        """The fake server is a thread of ours: what matters here is the check's logic, not the order."""
        yield "nothing (a fake run)"

    @property
    def exit_code(self) -> int | None:
        return self._exit_code

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def wait(self, timeout: float) -> int | None:
        return self._exit_code

    def limit_hits(self) -> dict[str, str]:
        return {}

    held = None

    def stop(self) -> Teardown:
        self.stopped = True
        self.server.close()
        if self.held is not None:
            self.held.release()
        return Teardown(self._exit_code)


class FakeSandbox(Tier):
    """A tier whose runs are FakeRuns: `serve` handles each client connection, `observe(run)` answers each
    snapshot (default: a healthy single-threaded server with every client's socket ESTABLISHED)."""

    name, level = "fake", "F"
    description = "scripted runs for tests"

    def __init__(self, serve: Callable[[socket.socket], None] = upper_echo,
                 observe: Callable[[FakeRun], Snapshot] | None = None, exit_code: int | None = None,
                 stderr: bytes = b"", evidence: list[tuple[str, str]] | None = None,
                 throttled: Callable[[], float] | None = None) -> None:
        super().__init__()
        self._evidence = evidence
        self._throttled = throttled
        self._serve = serve
        self._observe = observe or (lambda run: server_snapshot())
        self._exit_code = exit_code
        self._stderr = stderr
        self.runs: list[FakeRun] = []

    def start(self, launch: Launch) -> FakeRun:  # a RunView, as every tier's start() returns (mypy checks it)
        run = FakeRun(self._serve, self._observe, self._exit_code, self._stderr,
                      nonce=launch.env.get("GRADER_EVIDENCE"), evidence=self._evidence,
                      throttled=self._throttled)
        self.runs.append(run)
        return run


def _a_fake_run_is_a_run_view(run: FakeRun) -> RunView:
    """Never called: mypy (`make lint`) checks here that FakeRun offers everything the checks may use of a run
    (grader.sandbox.types.RunView), as the real Run must; tests/test_layout.py checks the members at run time."""
    return run


class FakeClock:
    """time.monotonic / time.sleep for a check module: sleeping advances the clock instantly."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
