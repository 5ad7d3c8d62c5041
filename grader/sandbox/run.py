"""A running submission: its process tree, its output, a way to reach it, and its teardown."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from grader.sandbox.output import CappedOutput


@dataclass
class Teardown:
    exit_code: int | None
    survivors: list[int] = field(default_factory=list)  # pids still alive after the kill: a harness error

    @property
    def clean(self) -> bool:
        return not self.survivors


class Run:
    """Handle on one started submission. Tiers subclass it for how to reach and kill the tree."""

    tier = "?"

    def __init__(self, popen: subprocess.Popen, scratch: Path, cap: int, t0: float) -> None:
        self.popen = popen
        self.scratch = scratch
        self.t0 = t0
        assert popen.stdout is not None and popen.stderr is not None
        self.stdout = CappedOutput(popen.stdout, cap, t0)
        self.stderr = CappedOutput(popen.stderr, cap, t0)
        self._stopped: Teardown | None = None

    # --- who is the submission -------------------------------------------------------------------------
    def main_pid(self) -> int | None:
        """Host pid of the submission's main process (None once it has exited)."""
        return self.popen.pid if self.popen.poll() is None else None

    def processes(self) -> list[psutil.Process]:
        """The submission's live processes: the main one and all its descendants."""
        pid = self.main_pid()
        if pid is None:
            return []
        try:
            main = psutil.Process(pid)
            return [main, *main.children(recursive=True)]
        except psutil.Error:
            return []

    def alive(self) -> bool:
        return self.main_pid() is not None

    @property
    def exit_code(self) -> int | None:
        code = self.popen.poll()
        if code is None:
            return None
        return 128 - code if code < 0 else code

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def limit_hits(self) -> dict[str, str]:
        """Limits the run ran into, e.g. {"memory_limit": "killed at 256 MiB"}; tiers that enforce limits
        override this. The engine turns a hit into the failed behaviour's reason."""
        hits = {}
        if self.stdout.capped or self.stderr.capped:
            total = self.stdout.total + self.stderr.total
            hits["output_noted"] = f"printed {total} bytes (only the first and last {self.stdout.cap // 2} kept)"
        return hits

    # --- reaching it --------------------------------------------------------------------------------------
    def socket(self, family: int = socket.AF_INET) -> socket.socket:
        """A fresh TCP socket that lives where the submission's loopback is."""
        return socket.socket(family, socket.SOCK_STREAM)

    # --- tearing down -------------------------------------------------------------------------------------
    def _kill_tree(self) -> None:
        raise NotImplementedError

    def _leftovers(self) -> list[int]:
        raise NotImplementedError

    def stop(self) -> Teardown:
        if self._stopped is not None:
            return self._stopped
        self._kill_tree()
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=5)
        deadline = time.monotonic() + 2.0
        survivors = self._leftovers()
        while survivors and time.monotonic() < deadline:
            time.sleep(0.02)
            survivors = self._leftovers()
        self.stdout.wait_closed(1.0)
        self.stderr.wait_closed(1.0)
        shutil.rmtree(self.scratch, ignore_errors=True)
        self._stopped = Teardown(self.exit_code, survivors)
        self._on_stopped()
        return self._stopped

    def _on_stopped(self) -> None:
        pass


def kill_pids(pids: list[int]) -> None:
    for pid in pids:
        try:
            psutil.Process(pid).send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
