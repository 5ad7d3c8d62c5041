"""Continuous, capped draining of a submission's stdout/stderr.

A server that prints on every poll writes up to ~1 MB/s; an undrained 64 KiB pipe would block it and look
like a hang. A reader thread drains the pipe forever; it keeps the head and the tail up to a cap, counts
every byte, and timestamps the first lines (for scripts whose output timing is graded). `on_data` is told
the size of every chunk (the run uses it for its output limit, far above what a chatty server prints).
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable
from typing import IO

KEEP_MAX = 512 << 10  # bytes of head, and of tail, ever held, whatever the configured cap
LINE_MAX = 16 << 10  # bytes of one timestamped line kept (the rest of the line is dropped)
LINES_MAX_BYTES = 512 << 10  # bytes of timestamped lines kept in all
FRAME_START = b"\x1egrader-evidence "  # records of the grader's observer (standalone/site/sitecustomize.py)
FRAME_MAX = 1100  # bytes of one record; a longer "record" is not ours and stays in the output
RECORDS_MAX = 1000


class EvidenceFrames:
    """Takes the grader observer's records out of a byte stream (they may be split across reads) and keeps
    those of the first nonce seen: the observer writes before the student's code runs, so the first nonce
    is the grader's, and records forged under another nonce are dropped (and never shown)."""

    def __init__(self) -> None:
        self._carry = b""
        self.nonce: str | None = None
        self.records: list[tuple[float, str, str]] = []  # (seconds since t0, kind, text)

    def strip(self, chunk: bytes, now: float) -> bytes:
        data = self._carry + chunk
        self._carry = b""
        if b"\x1e" not in data:
            return data
        out = bytearray()
        i = 0
        while i < len(data):
            j = data.find(b"\x1e", i)
            if j < 0:
                out += data[i:]
                break
            out += data[i:j]
            rest = data[j:j + len(FRAME_START)]
            if not FRAME_START.startswith(rest) or (len(rest) == len(FRAME_START) and rest != FRAME_START):
                out += b"\x1e"
                i = j + 1
                continue
            end = data.find(b"\x1e", j + 1) if len(rest) == len(FRAME_START) else -1
            if end < 0:
                if len(data) - j <= FRAME_MAX:  # an unfinished record (or its start): wait for the rest
                    self._carry = data[j:]
                    break
                out += b"\x1e"
                i = j + 1
                continue
            self._record(data[j + len(FRAME_START):end], now)
            i = end + 1
        return bytes(out)

    def flush(self) -> bytes:
        rest, self._carry = self._carry, b""
        return rest

    def _record(self, body: bytes, now: float) -> None:
        nonce, _, rest = body.decode("utf-8", "replace").partition(" ")
        kind, _, text = rest.partition(" ")
        if self.nonce is None:
            self.nonce = nonce
        if nonce == self.nonce and len(self.records) < RECORDS_MAX:
            self.records.append((now, kind, text))


class CappedOutput:
    """Memory held is bounded in bytes, whatever the line lengths: head + tail <= 2 x 512 KiB, timestamped
    lines <= 512 KiB (each cut at 16 KiB), a partial line <= 64 KiB (a 60 MiB flood of 128 KiB lines of
    undecodable bytes once held hundreds of MiB as decoded lines)."""

    def __init__(self, stream: IO[bytes], cap: int = 1 << 20, t0: float | None = None, max_lines: int = 10_000,
                 on_data: Callable[[int], None] | None = None):
        self.cap = min(cap, 2 * KEEP_MAX)
        self._lines_bytes = 0
        self.total = 0
        self._head = bytearray()
        self._tail = bytearray()
        self._partial = bytearray()
        self.lines: list[tuple[float, str]] = []  # (seconds since t0, line) as each line arrived
        self._max_lines = max_lines
        self._t0 = time.monotonic() if t0 is None else t0
        self._on_data = on_data
        self.frames = EvidenceFrames()
        try:  # the pipe's inode: the observer's channel in the submission must still be this pipe
            self.pipe_inode: int | None = os.fstat(stream.fileno()).st_ino
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            self.pipe_inode = None
        self._lock = threading.Lock()
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True, name="drain")
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        read = getattr(stream, "read1", stream.read)
        try:
            while True:
                chunk = read(65536)
                if not chunk:
                    break
                now = time.monotonic() - self._t0
                raw = len(chunk)
                with self._lock:
                    chunk = self.frames.strip(chunk, now)
                    self._keep(chunk, now)
                if self._on_data is not None:
                    self._on_data(raw)
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._keep(self.frames.flush(), time.monotonic() - self._t0)
                if self._partial and len(self.lines) < self._max_lines and self._lines_bytes < LINES_MAX_BYTES:
                    self.lines.append((time.monotonic() - self._t0,
                                       self._partial[:LINE_MAX].decode("utf-8", "replace")))
                self._partial.clear()
            try:
                stream.close()  # our end of the pipe: not left for the garbage collector (ResourceWarning)
            except OSError:
                pass
            self.closed.set()

    def _keep(self, chunk: bytes, now: float) -> None:
        """Count `chunk`, keep it in the head or the tail, split its lines (called with the lock held)."""
        self.total += len(chunk)
        half = self.cap // 2
        if len(self._head) < half:
            take = half - len(self._head)
            self._head += chunk[:take]
            chunk_rest = chunk[take:]
        else:
            chunk_rest = chunk
        self._tail += chunk_rest
        if len(self._tail) > half:
            del self._tail[: len(self._tail) - half]
        self._split_lines(chunk, now)

    def _split_lines(self, chunk: bytes, now: float) -> None:
        if len(self.lines) >= self._max_lines or self._lines_bytes >= LINES_MAX_BYTES:
            return
        self._partial += chunk
        if b"\n" in chunk:
            *complete, rest = bytes(self._partial).split(b"\n")
            for line in complete[: self._max_lines - len(self.lines)]:
                line = line[:LINE_MAX]
                self._lines_bytes += len(line)
                if self._lines_bytes > LINES_MAX_BYTES:
                    break
                self.lines.append((now, line.decode("utf-8", "replace").rstrip("\r")))
            self._partial = bytearray(rest)
        if len(self._partial) > 65536:  # a line without end: keep memory bounded
            self._partial = self._partial[-65536:]

    @property
    def capped(self) -> bool:
        return self.total > self.cap

    def text(self) -> str:
        with self._lock:
            if self.total <= self.cap:
                return bytes(self._head + self._tail).decode("utf-8", "replace")
            skipped = self.total - len(self._head) - len(self._tail)
            return (bytes(self._head).decode("utf-8", "replace")
                    + f"\n[... {skipped} bytes not kept ...]\n"
                    + bytes(self._tail).decode("utf-8", "replace"))

    def tail(self, max_chars: int = 2000) -> str:
        t = self.text()
        return t if len(t) <= max_chars else "[...]" + t[-max_chars:]

    def wait_closed(self, timeout: float) -> bool:
        return self.closed.wait(timeout)
