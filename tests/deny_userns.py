"""Run a command where user namespaces cannot be created, as on Ubuntu >= 23.10 runners (AppArmor) or under a
container's seccomp profile: a seccomp filter makes unshare()/clone() with CLONE_NEWUSER fail with EPERM
(and clone3, whose flags a filter cannot read, with ENOSYS, so that libc falls back to clone).

    python tests/deny_userns.py COMMAND [ARGS...]      (x86_64 Linux; exits 125 elsewhere)
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
CLONE_NEWUSER = 0x10000000
AUDIT_ARCH_X86_64 = 0xC000003E
NR_CLONE, NR_UNSHARE, NR_CLONE3 = 56, 272, 435
LD_ABS, JEQ, JSET, RET = 0x20, 0x15, 0x45, 0x06
ALLOW, ERRNO = 0x7FFF0000, 0x00050000
EPERM, ENOSYS = 1, 38

PROGRAM = [  # (code, jump if true, jump if false, k)
    (LD_ABS, 0, 0, 4),  # arch
    (JEQ, 0, 8, AUDIT_ARCH_X86_64),
    (LD_ABS, 0, 0, 0),  # syscall number
    (JEQ, 3, 0, NR_UNSHARE),
    (JEQ, 2, 0, NR_CLONE),
    (JEQ, 0, 4, NR_CLONE3),
    (RET, 0, 0, ERRNO | ENOSYS),
    (LD_ABS, 0, 0, 16),  # low half of the first argument: the flags
    (JSET, 0, 1, CLONE_NEWUSER),
    (RET, 0, 0, ERRNO | EPERM),
    (RET, 0, 0, ALLOW),
]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def deny_user_namespaces() -> None:
    raw = b"".join(struct.pack("HBBI", *ins) for ins in PROGRAM)
    buf = ctypes.create_string_buffer(raw)
    prog = SockFprog(len(PROGRAM), ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
            libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "installing the seccomp filter failed")


if __name__ == "__main__":
    if sys.platform != "linux" or platform.machine() != "x86_64":
        sys.exit(125)
    deny_user_namespaces()
    os.execvp(sys.argv[1], sys.argv[1:])  # noqa: S606 - a test helper running what the test asks
