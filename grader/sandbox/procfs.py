"""Observations of a submission's processes from the outside, through /proc.

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
FD_SYSCALLS = {"read", "write", "recvfrom", "recvmsg", "sendto", "accept", "accept4"}


@dataclass(frozen=True)
class TcpSocket:
    local: tuple[str, int]
    remote: tuple[str, int]
    state: str
    inode: int


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


def tcp_sockets(pid: int) -> list[TcpSocket]:
    """Every TCP socket in the network namespace of `pid` (the whole table, not only the process's)."""
    out: list[TcpSocket] = []
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{name}") as fh:
                next(fh, None)
                for line in fh:
                    f = line.split()
                    out.append(TcpSocket(_addr(f[1]), _addr(f[2]), TCP_STATES.get(f[3], f[3]), int(f[9])))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return out


def socket_fds(pid: int) -> dict[int, int]:
    """fd -> socket inode for the sockets `pid` holds open."""
    fds: dict[int, int] = {}
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return fds
    for n in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{n}")
        except OSError:
            continue
        if target.startswith("socket:["):
            fds[int(n)] = int(target[8:-1])
    return fds


def owned_sockets(pids: list[int]) -> list[tuple[int, int, TcpSocket]]:
    """(pid, fd, socket) for each TCP socket held by one of `pids`."""
    out = []
    for pid in pids:
        fds = socket_fds(pid)
        if not fds:
            continue
        by_inode = {s.inode: s for s in tcp_sockets(pid)}
        for fd, inode in fds.items():
            if inode in by_inode:
                out.append((pid, fd, by_inode[inode]))
    return out


def is_nonblocking(pid: int, fd: int) -> bool | None:
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}") as fh:
            for line in fh:
                if line.startswith("flags:"):
                    return bool(int(line.split()[1], 8) & O_NONBLOCK)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
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


def describe_fd(pid: int, fd: int) -> str:
    """`a connection socket (fd 4, 127.0.0.1:9000 <- 127.0.0.1:40112) in blocking mode`."""
    inode = socket_fds(pid).get(fd)
    mode = {True: "nonblocking mode", False: "blocking mode", None: "unknown mode"}[is_nonblocking(pid, fd)]
    if inode is None:
        return f"fd {fd} (not a socket) in {mode}"
    for s in tcp_sockets(pid):
        if s.inode == inode:
            if s.state == "LISTEN":
                return f"the listening socket (fd {fd}, {s.local[0]}:{s.local[1]}) in {mode}"
            return (f"a connection socket (fd {fd}, {s.local[0]}:{s.local[1]} <- {s.remote[0]}:{s.remote[1]}, "
                    f"{s.state}) in {mode}")
    return f"a socket (fd {fd}) in {mode}"


def where_stuck(pid: int) -> str | None:
    """A sentence on what the process's main thread is blocked in, from /proc/PID/syscall and fdinfo."""
    sc = current_syscall(pid)
    if sc is None:
        return None
    name, args = sc
    if name in FD_SYSCALLS:
        return f"blocked in {name}() on {describe_fd(pid, args[0])}"
    if name in ("select", "pselect6", "poll", "ppoll", "epoll_wait", "epoll_pwait", "epoll_pwait2"):
        return f"waiting in {name}() (an event loop waiting for readiness)"
    if name in ("nanosleep", "clock_nanosleep"):
        return f"sleeping in {name}()"
    if name == "futex":
        return "waiting on a lock or for another thread (futex)"
    return f"in {name}()"
