"""Continuous, capped draining of a submission's stdout/stderr.

A server that prints on every poll writes up to ~1 MB/s; an undrained 64 KiB pipe would block it and look
like a hang. A reader thread drains the pipe forever; it keeps the head and the tail up to a cap, counts
every byte, and timestamps the first lines (for scripts whose output timing is graded). `on_data` is told
the size of every chunk (the run uses it for its output limit, far above what a chatty server prints).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import IO

KEEP_MAX = 512 << 10  # bytes of head, and of tail, ever held, whatever the configured cap
LINE_MAX = 16 << 10  # bytes of one timestamped line kept (the rest of the line is dropped)
LINES_MAX_BYTES = 512 << 10  # bytes of timestamped lines kept in all


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
                with self._lock:
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
                if self._on_data is not None:
                    self._on_data(len(chunk))
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                if self._partial and len(self.lines) < self._max_lines and self._lines_bytes < LINES_MAX_BYTES:
                    self.lines.append((time.monotonic() - self._t0,
                                       self._partial[:LINE_MAX].decode("utf-8", "replace")))
                self._partial.clear()
            try:
                stream.close()  # our end of the pipe: not left for the garbage collector (ResourceWarning)
            except OSError:
                pass
            self.closed.set()

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
