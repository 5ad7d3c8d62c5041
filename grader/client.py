"""The grader's reference clients: every socket operation has its own timeout, every event is timestamped.

A reply is read until all expected bytes arrived (TCP may split a 1024-byte reply) or the per-operation
timeout passes; reads are capped, so a server that floods cannot exhaust the grader.
"""

from __future__ import annotations

import random
import socket
import string
import struct
import threading
import time
from dataclasses import dataclass, field

from grader.failure import BehaviourFailed

READ_CAP = 1 << 20
ALPHABET = (string.ascii_lowercase + string.digits + " .,-").encode()


@dataclass
class Event:
    t: float
    actor: str
    text: str


@dataclass
class Transcript:
    t0: float = field(default_factory=time.monotonic)
    events: list[Event] = field(default_factory=list)
    limit: int = 400
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def log(self, actor: str, text: str) -> None:
        with self._lock:
            if len(self.events) < self.limit:
                self.events.append(Event(round(time.monotonic() - self.t0, 3), actor, text))
            elif len(self.events) == self.limit:
                self.events.append(Event(round(time.monotonic() - self.t0, 3), "grader", "[transcript cut]"))


# random bytes mapped onto the alphabet (its 40 letters repeat 6.4 times in 256: close enough to uniform)
_TO_ALPHABET = bytes(ALPHABET[i % len(ALPHABET)] for i in range(256))


def payload(rng: random.Random, size: int) -> bytes:
    """`size` printable bytes, the same for the same seed; one C call, not one per byte."""
    return rng.randbytes(size).translate(_TO_ALPHABET)


def preview(data: bytes, limit: int = 24) -> str:
    shown = data[:limit].decode("latin-1")
    return repr(shown + ("…" if len(data) > limit else ""))


class Client:
    """One TCP connection of the grader to the submission."""

    def __init__(self, make_socket, address: tuple[str, int], transcript: Transcript, name: str,
                 timeout: float = 2.0, quiet: bool = False) -> None:
        self._make_socket = make_socket
        self.quiet = quiet
        self.address = address
        self.transcript = transcript
        self.name = name
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.replies = 0  # complete, correct replies received on this connection

    def log(self, text: str, failure: bool = False) -> None:
        if failure or not self.quiet:
            self.transcript.log(self.name, text)

    def connect(self) -> Client:
        family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
        try:  # a sandbox whose network namespace is gone (its server died) cannot even make the socket
            self.sock = self._make_socket(family)
            self.sock.settimeout(self.timeout)
            self.sock.connect(self.address)
        except OSError as exc:
            self.log(f"connect failed: {exc.strerror or exc}", failure=True)
            raise BehaviourFailed(
                f"{self.name} could not connect",
                expected=f"the server accepts connections on {self.address[0]}:{self.address[1]}",
                observed=f"connect() failed: {exc.strerror or exc}", reason="no_connect",
            ) from None
        self.log(f"connected to {self.address[0]}:{self.address[1]}")
        return self

    def send(self, data: bytes) -> None:
        assert self.sock is not None
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.log(f"send of {len(data)} B failed: {exc.strerror or exc}", failure=True)
            raise BehaviourFailed(f"{self.name} could not send", expected="the server keeps the connection open",
                                  observed=f"send() failed: {exc.strerror or exc}") from None
        self.log(f"sent {len(data)} B {preview(data)}")

    def receive(self, n: int, timeout: float | None = None) -> tuple[bytes, str]:
        """Read up to exactly `n` bytes; returns (data, why it stopped: 'ok' / 'timeout' / 'eof' / 'reset')."""
        assert self.sock is not None
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(buf), "timeout"
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(min(n - len(buf), READ_CAP))
            except (TimeoutError, socket.timeout):
                return bytes(buf), "timeout"
            except ConnectionResetError:
                return bytes(buf), "reset"
            except OSError as exc:
                self.log(f"recv failed: {exc.strerror or exc}")
                return bytes(buf), "reset"
            if not chunk:
                return bytes(buf), "eof"
            buf += chunk
        return bytes(buf), "ok"

    def exchange(self, data: bytes, expected: bytes, timeout: float | None = None, what: str = "") -> None:
        """Send `data` and require exactly `expected` back."""
        self.send(data)
        self.expect(expected, timeout, sent=data, what=what)

    def expect(self, expected: bytes, timeout: float | None = None, sent: bytes | None = None,
               what: str = "") -> None:
        timeout = self.timeout if timeout is None else timeout
        got, why = self.receive(len(expected), timeout)
        if why == "ok" and got == expected:
            self.log(f"got {len(got)} B back, as expected")
            self.replies += 1
            return
        did = f" to the {len(sent)} B it sent" if sent is not None else ""
        if why == "ok":
            self.log(f"got {len(got)} B {preview(got)}: not what was expected", failure=True)
            first = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
            raise BehaviourFailed(
                f"{self.name} got a wrong reply{did}",
                expected=f"{len(expected)} B {preview(expected)}{what}",
                observed=f"{len(got)} B {preview(got)} (first difference at byte {first})",
            )
        stop = {"timeout": f"no more bytes within {timeout:.1f} s", "eof": "the server closed the connection",
                "reset": "the connection was reset by the server"}[why]
        self.log(f"got {len(got)} of {len(expected)} B, then {stop}", failure=True)
        head = f"{self.name} got no complete reply{did}" if got else f"{self.name} got no reply{did}"
        if why != "timeout" and self.replies:
            head += f": the server closed the connection after answering {self.replies} message(s) on it"
        raise BehaviourFailed(
            head,
            expected=f"{len(expected)} B {preview(expected)}{what} within {timeout:.1f} s",
            observed=f"{len(got)} B{' ' + preview(got) if got else ''}, then {stop}",
            reason="no_reply" if why == "timeout" else "server_closed",
            # a connection closed by the server after answering it: the one bug echo judges (issue 18)
            evidence={"closed_after_replies": self.replies} if why != "timeout" and self.replies else None,
        )

    def poke(self, data: bytes, timeout: float | None = None) -> bytes:
        """Send `data` and wait for *some* reply (at least one byte, at most len(data)); never fails.

        For exchanges a behaviour needs only to make traffic happen (a warm-up, a client that leaves after
        talking), so that a server is not failed there for what another behaviour checks (the content)."""
        timeout = self.timeout if timeout is None else timeout
        try:
            self.send(data)
        except BehaviourFailed:
            return b""
        assert self.sock is not None
        self.sock.settimeout(timeout)
        try:
            got = self.sock.recv(len(data))
        except OSError:
            got = b""
        self.log(f"got {len(got)} B back" if got else f"no reply within {timeout:.1f} s (not required here)")
        return got

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            self.log("closed (FIN)")

    def reset(self) -> None:
        """Abortive close: SO_LINGER 0 makes close() send RST instead of FIN."""
        if self.sock is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
            self.sock = None
            self.log("reset the connection (RST)")

    def discard(self) -> None:
        """Close without logging (clean-up at the end of a behaviour)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
