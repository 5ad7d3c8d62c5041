"""Observations of a submission's processes from the outside, through /proc (stdlib only: it also runs as
the observer process, see observe.py).

psutil covers CPU times, threads and fds across namespaces, but its `net_connections()` reads the caller's
network namespace (psutil #1611); so socket states come from `/proc/PID/net/tcp{,6}` (the *process's*
namespace) matched by inode against `/proc/PID/fd`.
"""

from __future__ import annotations

import os
import platform
import socket
import struct
from dataclasses import dataclass
from functools import lru_cache

TYPE_CHECKING = False  # not `from typing import ...`: the observer process would pay for importing typing
if TYPE_CHECKING:
    from typing import Any

TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
    "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}
O_NONBLOCK = 0o4000

# syscall numbers that matter for "where is it stuck", per architecture
_SYSCALLS = {
    "x86_64": {0: "read", 1: "write", 7: "poll", 23: "select", 35: "nanosleep", 43: "accept", 44: "sendto",
               45: "recvfrom", 47: "recvmsg", 61: "wait4", 202: "futex", 230: "clock_nanosleep",
               232: "epoll_wait", 270: "pselect6", 271: "ppoll", 281: "epoll_pwait", 288: "accept4",
               441: "epoll_pwait2"},
    "aarch64": {63: "read", 64: "write", 72: "pselect6", 73: "ppoll", 98: "futex", 101: "nanosleep",
                115: "clock_nanosleep", 202: "accept", 206: "sendto", 207: "recvfrom", 212: "recvmsg",
                22: "epoll_pwait", 242: "accept4", 260: "wait4", 441: "epoll_pwait2"},
}


@dataclass(frozen=True)
class TcpEntry:
    """One row of /proc/net/tcp(6). The grader's Snapshot turns it into an observe.TcpSocket (with pid and fd)."""

    local: tuple[str, int]
    remote: tuple[str, int]
    state: str
    inode: int


@lru_cache(maxsize=8192)  # the same table is read again and again while a check waits: decode each address once
def _addr(hexaddr: str) -> tuple[str, int]:
    host, port = hexaddr.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:  # /proc prints IPv6 as four host-order 32-bit words
        ip = socket.inet_ntop(socket.AF_INET6, b"".join(struct.pack("<I", w) for w in struct.unpack(">4I", raw)))
        if ip.startswith("::ffff:") and "." in ip:
            ip = ip[7:]
    return ip, int(port, 16)


def tcp_sockets(pid: int) -> list[TcpEntry]:
    """Every TCP socket in the network namespace of `pid` (the whole table, not only the process's)."""
    out: list[TcpEntry] = []
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{name}") as fh:
                next(fh, None)
                for line in fh:
                    f = line.split()
                    out.append(TcpEntry(_addr(f[1]), _addr(f[2]), TCP_STATES.get(f[3], f[3]), int(f[9])))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return out


def child_pids(pid: int) -> list[int] | None:
    """The children of `pid`, oldest first, from /proc/PID/task/*/children: a few small reads, where
    psutil's children() reads the stat file of every process on the machine. None where the kernel has no
    such file (CONFIG_PROC_CHILDREN) or the process is gone: the caller asks psutil."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    kids: list[int] = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                kids.extend(int(k) for k in fh.read().split())
        except (OSError, ValueError):
            if tid == str(pid):
                return None  # no CONFIG_PROC_CHILDREN, not ours to read, or gone
            continue  # a thread that ended meanwhile
    return kids


def descendant_pids(pid: int) -> list[int] | None:
    """Every descendant of `pid`, breadth first; None where child_pids cannot tell for `pid` itself (a
    descendant that is gone meanwhile has none)."""
    kids = child_pids(pid)
    if kids is None:
        return None
    out: list[int] = []
    while kids:
        out.extend(kids)
        kids = [k for parent in kids for k in (child_pids(parent) or [])]
    return out


def is_nonblocking(pid: int, fd: int) -> bool | None:
    # os.open/os.read, not open(): read for every socket of every snapshot, and a text file object costs
    # more than the read itself
    try:
        f = os.open(f"/proc/{pid}/fdinfo/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    try:
        info = os.read(f, 4096)
    except OSError:
        return None
    finally:
        os.close(f)
    for line in info.split(b"\n"):
        if line.startswith(b"flags:"):
            return bool(int(line.split()[1], 8) & O_NONBLOCK)
    return None


def current_syscall(pid: int, tid: int | None = None) -> tuple[str, list[int]] | None:
    """(syscall name, args) a blocked thread sits in, or None if running / unknown."""
    path = f"/proc/{pid}/task/{tid}/syscall" if tid else f"/proc/{pid}/syscall"
    try:
        with open(path) as fh:
            f = fh.read().split()
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return None
    if not f or f[0] in ("running", "-1"):
        return None
    nr = int(f[0])
    name = _SYSCALLS.get(platform.machine(), {}).get(nr, f"syscall {nr}")
    args = [int(a, 16) for a in f[1:7]]
    return name, args


# --- one reading of a whole process tree, as plain data ------------------------------------------------------
# This module needs nothing but the standard library: the same code runs in the grader's process (when it
# may read every /proc/PID) and as an observer process under the run's own uid (root without
# CAP_SYS_PTRACE, a container: a same-uid reader needs no capability while the target is dumpable).

def _ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        return 100


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), which needs no ptrace access."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def _stat(pid: int) -> tuple[str, float] | None:
    """(state letter, user+system CPU seconds)."""
    rest = _stat_fields(pid)
    return (rest[0], (int(rest[11]) + int(rest[12])) / _ticks()) if rest else None


def state_and_parent(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid); None if there is no such process (or no /proc)."""
    rest = _stat_fields(pid)
    return (rest[0], int(rest[1])) if rest else None


def _sched(pid: int) -> tuple[float, float, int]:
    """(seconds on a CPU, seconds runnable and waiting for one, threads), summed over the threads."""
    run = wait = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0, 0.0, 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                f = fh.read().split()
            run, wait = run + int(f[0]), wait + int(f[1])
        except (OSError, ValueError, IndexError):
            continue
    return run / 1e9, wait / 1e9, len(tids)


def _fds(pid: int) -> list[dict[str, int | None]] | None:
    """Each open fd with its socket inode and O_NONBLOCK bit; None when this reader may not look."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
        if names:  # listing needs only DAC; the links need ptrace access: prove we have it
            os.readlink(f"/proc/{pid}/fd/{names[0]}")
    except FileNotFoundError:
        return []
    except OSError:
        return None
    out: list[dict[str, int | None]] = []
    for n in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{n}")
        except OSError:
            continue
        inode = int(target[8:-1]) if target.startswith("socket:[") else None
        pipe = int(target[6:-1]) if target.startswith("pipe:[") else None
        out.append({"fd": int(n), "inode": inode, "pipe": pipe, "nonblocking": is_nonblocking(pid, int(n))})
    return out


def snapshot(pids: list[int]) -> dict[str, Any]:
    """Everything the checks observe about `pids`, JSON-safe: per process its state, CPU, runnable time,
    threads, fds (None: not readable here) and the syscall its main thread waits in; and the TCP sockets the
    processes hold, with their states (matched by inode in each process's own network namespace)."""
    procs, socks = [], []
    tables: dict[str, dict[int, TcpEntry]] = {}
    for pid in pids:
        st = _stat(pid)
        if st is None or st[0] in ("Z", "X"):
            continue
        run, wait, threads = _sched(pid)
        fds = _fds(pid)
        sc = current_syscall(pid)
        procs.append({"pid": pid, "state": st[0], "cpu": st[1], "run": run, "wait": wait, "threads": threads,
                      "fds": fds, "syscall": [sc[0], sc[1]] if sc else None})
        if not fds:
            continue
        try:
            ns = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            ns = f"pid:{pid}"
        if ns not in tables:
            tables[ns] = {s.inode: s for s in tcp_sockets(pid)}
        for f in fds:
            s = tables[ns].get(f["inode"]) if f["inode"] is not None else None
            if s is not None:
                socks.append({"pid": pid, "fd": f["fd"], "local": list(s.local), "remote": list(s.remote),
                              "state": s.state})
    return {"processes": procs, "sockets": socks}


def pids_in_pidns(pidns: str, exclude: int) -> list[int]:
    """Live pids whose pid namespace is `pidns` (a readlink of /proc/PID/ns/pid)."""
    left = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == exclude:
            continue
        try:
            if os.readlink(f"/proc/{name}/ns/pid") == pidns:
                st = _stat(int(name))
                if st is not None and st[0] not in ("Z", "X"):
                    left.append(int(name))
        except OSError:
            continue
    return left


def serve(fd: int) -> None:
    """The observer: answer JSON lines on a Unix stream socket until it closes. Started by the grader
    as the run's uid, never by the submission; it refuses to be ptraced by same-uid processes (not dumpable),
    so a submission cannot make it lie."""
    import ctypes
    import json

    try:
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
    except (OSError, AttributeError):
        pass
    sock = socket.socket(fileno=fd)
    rfile, wfile = sock.makefile("rb"), sock.makefile("wb")
    for req in rfile:  # one JSON request per line, one JSON reply per line
        try:
            msg = json.loads(req)
            if msg["op"] == "open":  # the reply carries the fd; the grader reads it with recvmsg
                try:
                    fd = os.open(str(msg["path"]), os.O_RDONLY | os.O_CLOEXEC)
                except OSError as exc:
                    sock.sendall(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode() + b"\n")
                    continue
                socket.send_fds(sock, [b'{"ok": true}\n'], [fd])
                os.close(fd)
                continue
            if msg["op"] == "snapshot":
                reply = snapshot([int(p) for p in msg["pids"]])
            elif msg["op"] == "pidns":
                reply = {"pids": pids_in_pidns(str(msg["ns"]), os.getpid())}
            elif msg["op"] == "readlink":
                reply = {"target": os.readlink(str(msg["path"]))}
            else:
                reply = {"error": f"unknown op {msg['op']!r}"}
        except Exception as exc:  # noqa: BLE001 - the grader reports it; the observer keeps serving
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        try:
            wfile.write(json.dumps(reply).encode() + b"\n")
            wfile.flush()
        except OSError:
            return


if __name__ == "__main__":  # python -I -S - FD < this file
    import sys

    serve(int(sys.argv[1]))
