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
from collections.abc import Callable
from dataclasses import dataclass, field

from grader.failure import BehaviourFailed
from grader.i18n import _

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
                self.events.append(Event(round(time.monotonic() - self.t0, 3), "grader", _("[transcript cut]")))


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

    def __init__(self, make_socket: Callable[[int], socket.socket], address: tuple[str, int], transcript: Transcript,
                 name: str, timeout: float = 2.0, quiet: bool = False) -> None:
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
            self.log(_("connect failed: {error}").format(error=exc.strerror or exc), failure=True)
            raise BehaviourFailed(
                _("{client} could not connect").format(client=self.name),
                expected=_("the server accepts connections on {address}").format(
                    address=f"{self.address[0]}:{self.address[1]}"),
                observed=_("connect() failed: {error}").format(error=exc.strerror or exc), reason="no_connect",
            ) from None
        self.log(_("connected to {address}").format(address=f"{self.address[0]}:{self.address[1]}"))
        return self

    def send(self, data: bytes) -> None:
        assert self.sock is not None
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.log(_("send of {n} B failed: {error}").format(n=len(data), error=exc.strerror or exc), failure=True)
            raise BehaviourFailed(_("{client} could not send").format(client=self.name),
                                  expected=_("the server keeps the connection open"),
                                  observed=_("send() failed: {error}").format(error=exc.strerror or exc)) from None
        self.log(_("sent {n} B {preview}").format(n=len(data), preview=preview(data)))

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
                self.log(_("recv failed: {error}").format(error=exc.strerror or exc))
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
            self.log(_("got {n} B back, as expected").format(n=len(got)))
            self.replies += 1
            return
        did = _(" to the {n} B it sent").format(n=len(sent)) if sent is not None else ""
        if why == "ok":
            self.log(_("got {n} B {preview}: not what was expected").format(n=len(got), preview=preview(got)),
                     failure=True)
            first = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
            raise BehaviourFailed(
                _("{client} got a wrong reply{did}").format(client=self.name, did=did),
                expected=f"{len(expected)} B {preview(expected)}{what}",
                observed=_("{n} B {preview} (first difference at byte {first})").format(
                    n=len(got), preview=preview(got), first=first),
            )
        stop = {"timeout": _("no more bytes within {timeout} s").format(timeout=f"{timeout:.1f}"),
                "eof": _("the server closed the connection"),
                "reset": _("the connection was reset by the server")}[why]
        self.log(_("got {n} of {total} B, then {stop}").format(n=len(got), total=len(expected), stop=stop),
                 failure=True)
        head = (_("{client} got no complete reply{did}") if got else _("{client} got no reply{did}")).format(
            client=self.name, did=did)
        if why != "timeout" and self.replies:
            head += _(": the server closed the connection after answering {n} message(s) on it").format(
                n=self.replies)
        raise BehaviourFailed(
            head,
            expected=_("{n} B {preview}{what} within {timeout} s").format(
                n=len(expected), preview=preview(expected), what=what, timeout=f"{timeout:.1f}"),
            observed=_("{received}, then {stop}").format(
                received=f"{len(got)} B{' ' + preview(got) if got else ''}", stop=stop),
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
        self.log(_("got {n} B back").format(n=len(got)) if got
                 else _("no reply within {timeout} s (not required here)").format(timeout=f"{timeout:.1f}"))
        return got

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            self.log(_("closed (FIN)"))

    def reset(self) -> None:
        """Abortive close: SO_LINGER 0 makes close() send RST instead of FIN."""
        if self.sock is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
            self.sock = None
            self.log(_("reset the connection (RST)"))

    def discard(self) -> None:
        """Close without logging (clean-up at the end of a behaviour)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
