"""Trusted grader code, injected into every submission through PYTHONPATH; it runs before the student's code.

1. The grader's observer (always, when GRADER_EVIDENCE carries the run's nonce): an audit hook (which no
   code can remove) and, where asked, wrappers and a greenlet tracer, that report what the program really
   did: modules its own code imported, watched functions it called (`select.select`, ...), how many
   greenlets ran. Records go as single atomic write()s of `\\x1egrader-evidence NONCE KIND TEXT\\x1e` to a
   private duplicate of the stderr pipe at a high fd, so replacing fd 2 does not silence it; the grader
   strips them from the stderr it shows, checks from /proc that this fd is still that pipe, and treats a
   missing or cut channel as "could not observe", never as a pass. The nonce is erased from the process's
   memory (and so from /proc/self/environ) before the student's code runs.
2. Forbidden readiness calls stopped by the kernel (GRADER_FORBID_READINESS=1, where an assignment forbids
   select/selectors): a seccomp filter, installed before the student's code and irremovable by it (inherited
   by every thread and child), kills the process (SIGSYS) at its first system call that waits for readiness
   (select, poll, epoll_wait and their variants; io_uring_setup),
   whatever route led there (the original function behind the observer's wrapper, a module from sys.modules,
   ctypes, a timeout of 0 that never waits). The grader sees the SIGSYS death from outside. A correct program
   pays one short BPF program per system call (benchmarks/seccomp_cost.py).
3. Windows accept emulation (options.windows_accept_inherits_nonblocking): a socket returned by accept()
   inherits the listener's nonblocking mode, as on Windows.
"""

import os
import sys

# Nothing more is imported into the student's process for typing (no typing, no __future__): type checkers treat
# any name TYPE_CHECKING as true, and annotations that need these names are strings
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType, ModuleType
    from typing import Any


def _observe(nonce: str, watch_modules: set[str], watch_calls: list[str], trace_greenlets: bool,
             forbid_readiness: bool = False) -> None:
    import fcntl

    cwd = os.getcwd()
    roots = (os.path.realpath(cwd) + os.sep, cwd + os.sep)  # the submission's folder: its code is the student's
    try:
        fd = fcntl.fcntl(2, fcntl.F_DUPFD_CLOEXEC, 900)
    except OSError:
        try:
            fd = fcntl.fcntl(2, fcntl.F_DUPFD_CLOEXEC, 10)  # a low RLIMIT_NOFILE
        except OSError:
            return
    reported: set[str | tuple[str, str]] = set()  # watched calls by name, imports as ("import", name)
    write = os.write
    prefix = b"\x1egrader-evidence " + nonce.encode() + b" "

    def report(kind: str, text: str) -> None:
        data = prefix + (kind + " " + text).encode("utf-8", "replace").replace(b"\x1e", b"?")[:1000] + b"\x1e"
        try:
            write(fd, data)
        except OSError:
            pass  # cut: the grader sees it from /proc

    def student_frame(depth: int, direct: bool) -> str:
        """'file:line' of the student's code that caused this, or ''. An import counts when the nearest frame
        outside the import machinery is the student's (an import made by a library is not theirs); a call
        counts unless it is made while a module is being imported (selectors probes epoll on import)."""
        f: FrameType | None = sys._getframe(depth)
        while f is not None:
            name = f.f_code.co_filename
            if not name.startswith(("/", "<")):  # `python server.py`: the main module's name is relative
                name = os.path.join(cwd, name)
            for root in roots:
                if name.startswith(root):
                    return f"{name[len(root):]}:{f.f_lineno}"
            importing = name.startswith("<frozen importlib") or "importlib" in name
            if direct != importing:  # an import made by a library, or a call made while a module is imported
                return ""
            f = f.f_back
        return ""

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event == "import" and args and isinstance(args[0], str):
            top = args[0].partition(".")[0]
            if (args[0] in watch_modules or top in watch_modules) and ("import", args[0]) not in reported:
                where = student_frame(2, direct=True)
                if where:
                    reported.add(("import", args[0]))
                    report("import", f"{args[0]} {where}")

    def wrap(module: "ModuleType", attr: str) -> None:
        real = getattr(module, attr, None)
        if real is None:
            return
        name = f"{module.__name__}.{attr}"

        def watched(*a: object, **k: object) -> object:
            if name not in reported:
                where = student_frame(2, direct=False)
                if where:
                    reported.add(name)
                    report("call", f"{name} {where}")
            return real(*a, **k)

        watched.__name__ = getattr(real, "__name__", attr)
        watched.__doc__ = getattr(real, "__doc__", None)
        # a staticmethod: callable like the original, and not bound as a method where a class keeps it as
        # an attribute (selectors.EpollSelector._selector_cls = select.epoll)
        setattr(module, attr, staticmethod(watched))

    report("hello", f"{os.getpid()} fd={fd}")
    if forbid_readiness:
        why = _forbid_readiness()
        report("seccomp", "on" if not why else "off " + why)
    for dotted in watch_calls:
        mod, _, attr = dotted.rpartition(".")
        try:
            module = __import__(mod)  # only stdlib modules are watched (select): importing them changes nothing
        except ImportError:
            continue
        wrap(module, attr)
    if watch_modules:
        sys.addaudithook(hook)
    if trace_greenlets:
        try:
            import greenlet  # type: ignore[import-untyped]  # no stubs (types-greenlet is not a dependency)
        except ImportError:
            return
        import weakref

        # Greenlets seen, weakly: a finished greenlet's id() is reused by the next one (a handler that answers
        # once and returns), so ids undercount; a WeakSet forgets the dead ones and keeps no memory alive.
        seen: weakref.WeakSet[object] = weakref.WeakSet()
        ran = [0]
        counts = {50, 100, 200, 500, 1000}  # every count up to 20 is reported, then these

        def trace(event: str, args: "tuple[Any, Any]") -> None:  # (origin, target): greenlets
            if event in ("switch", "throw"):
                target = args[1]
                if target.parent is not None and type(target).__name__ != "Hub" and target not in seen:
                    seen.add(target)
                    ran[0] += 1
                    if ran[0] <= 20 or ran[0] in counts:
                        report("greenlets", str(ran[0]))

        greenlet.settrace(trace)


# syscall numbers that wait for (or set up waiting for) readiness, per architecture; killed when forbidden
_READINESS_SYSCALLS = {
    # select poll epoll_wait epoll_pwait epoll_pwait2 pselect6 ppoll io_uring_setup. Not epoll_create(1): `import
    # socket` imports selectors, which creates (and closes) an epoll object to choose DefaultSelector
    "x86_64": (0xC000003E, (23, 7, 232, 281, 441, 270, 271, 425)),
    # pselect6 ppoll epoll_pwait epoll_pwait2 io_uring_setup (this ABI has no select, poll, epoll_wait)
    "aarch64": (0xC00000B7, (72, 73, 22, 441, 425)),
}


def _forbid_readiness() -> str:
    """Install the seccomp filter (see 2. above). Returns '' or why it could not be installed."""
    import ctypes
    import platform
    import struct

    arch = _READINESS_SYSCALLS.get(platform.machine())
    if arch is None or not sys.platform.startswith("linux"):
        return "no seccomp filter for " + platform.machine()
    audit_arch, numbers = arch
    ld_w_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    kill, allow = 0x80000000, 0x7FFF0000  # SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_ALLOW
    prog = [(ld_w_abs, 0, 0, 4),  # seccomp_data.arch
            (jeq, 1, 0, audit_arch), (ret, 0, 0, kill),  # another ABI (i386 int 0x80): killed
            (ld_w_abs, 0, 0, 0)]  # seccomp_data.nr
    if audit_arch == 0xC000003E:
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, kill)]  # the x32 ABI: killed
    for i, nr in enumerate(numbers):
        prog.append((jeq, len(numbers) - i, 0, nr))  # to the kill at the end
    prog += [(ret, 0, 0, allow), (ret, 0, 0, kill)]
    code = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        return "prctl(PR_SET_NO_NEW_PRIVS): " + os.strerror(ctypes.get_errno())
    if libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) != 0:
        return "prctl(PR_SET_SECCOMP): " + os.strerror(ctypes.get_errno())
    return ""


def _erase_from_environ(name: str) -> None:
    """Overwrite NAME=... in the process's original environment block (what /proc/self/environ shows)."""
    try:
        import ctypes

        environ = ctypes.POINTER(ctypes.c_char_p).in_dll(ctypes.CDLL(None), "environ")
        key = name.encode() + b"="
        i = 0
        while environ[i] is not None:
            if environ[i].startswith(key):
                addr = ctypes.cast(environ, ctypes.POINTER(ctypes.c_void_p))[i]
                ctypes.memset(addr + len(key), ord("0"), len(environ[i]) - len(key))
            i += 1
    except (OSError, ValueError, AttributeError):
        pass


_nonce = os.environ.get("GRADER_EVIDENCE", "")
if _nonce:
    _erase_from_environ("GRADER_EVIDENCE")
    os.environ.pop("GRADER_EVIDENCE", None)
    _observe(_nonce,
             set(filter(None, os.environ.pop("GRADER_WATCH_MODULES", "").split(","))),
             [c for c in os.environ.pop("GRADER_WATCH_CALLS", "").split(",") if c],
             os.environ.pop("GRADER_TRACE_GREENLETS", "") == "1",
             os.environ.pop("GRADER_FORBID_READINESS", "") == "1")
del _nonce

if os.environ.get("GRADER_WINDOWS_ACCEPT") == "1":
    import socket

    _accept = socket.socket.accept

    def accept(self: socket.socket) -> "tuple[socket.socket, Any]":
        conn, addr = _accept(self)
        if self.gettimeout() == 0.0:  # the listener is nonblocking
            conn.setblocking(False)
        return conn, addr

    socket.socket.accept = accept  # type: ignore[method-assign]  # the emulation replaces the method on purpose
