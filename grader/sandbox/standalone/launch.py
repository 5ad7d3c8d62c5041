"""Trusted launcher: puts a submission in its cgroups, limits and namespaces, then execs it.

Runs as `python -I -S launch.py [options] -- PROGRAM ARGS...` (standard library only, no grader imports,
so nothing of the grader's environment leaks in). Every mode first joins the run's cgroups (--cgroup-procs)
and sets the rlimits, so everything started afterwards is inside them.

    --exec            exec PROGRAM directly (tier A: PROGRAM is `setpriv ... bwrap ...`)
    --netns --pidns   root: launcher (new net ns) --fork--> init (pid 1) --fork--> submission
    --userns          unprivileged: a new user+net+pid+mount+ipc+uts namespace, same shape as above
    --tcp-hash N      the run's network namespace gets a TCP hash table of its own (see own_tcp_hash)
    --subreaper       no namespaces: the launcher is a child subreaper and kills what is left when the
                      submission's main process exits (double-forked daemons included)

init reaps orphans and exits when the submission's main process exits; the kernel then kills every
process left in the pid namespace. Launcher and init die with their parent (PR_SET_PDEATHSIG), so a killed
grader takes the whole tree with it. With --stub-fd, init also hands out TCP sockets created inside the
run's network namespace over a Unix socket (SCM_RIGHTS): that is how an unprivileged grader reaches a
server it cannot setns() to.

--expose PATH (root) makes PATH reachable for an unprivileged uid without changing the host: in a private
mount namespace, every ancestor directory that others may not enter (e.g. /root, mode 700, above a pyenv
interpreter) is covered by a tmpfs holding only bind mounts of the exposed paths.

Every behaviour starts this launcher, so its start is kept cheap: socket, select, struct and time are
imported only by the modes that use them, signals come from `_signal` (the C module that `signal` wraps
in enums), and the options are read by `parse_args` below, not argparse (argparse with its `re` and
`gettext`, and `signal`'s enum, cost ~11 ms of CPU per start, half of the launcher's; measured with
benchmarks/behaviour_cpu.py).
"""

import _signal as signal  # type: ignore[import-not-found]  # the C module behind `signal`: no stubs
import ctypes
import os
import resource
import sys

# not `from typing import TYPE_CHECKING`: importing typing would cost this launcher's every start (see above);
# type checkers treat any name TYPE_CHECKING as true, so the annotations' names come from here, never at runtime
TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Iterable
    from typing import NoReturn

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 0x1, 0x2, 0x4, 0x8, 0x20
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1

libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent() -> None:
    try:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except AttributeError:  # not Linux
        pass


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(libc.unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(s: str | bytes | None) -> bytes | None:
        return s.encode() if isinstance(s, str) else s

    _check(libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


def loopback_up() -> None:
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH22x", b"lo", 0))
        flags = struct.unpack("16sH22x", ifr)[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


TCP_CHILD_EHASH = "/proc/sys/net/ipv4/tcp_child_ehash_entries"


def own_tcp_hash(entries: int | None, in_new_netns: bool) -> bool:
    """Give the run's network namespace a TCP hash table of its own, `entries` buckets, instead of the
    host's (Linux >= 6.1: net.ipv4.tcp_child_ehash_entries). Every read of the run's /proc/net/tcp walks the
    whole table its namespace uses: the host's 262,144 buckets cost 4.5 ms of CPU per file and snapshot,
    an own table of 1,024 about 20 us. The setting applies to namespaces created *from* the one it is written
    in, so it is written in a namespace that is not the host's (whose setting stays untouched):
    `in_new_netns` (--netns, --userns: we are in a fresh one) writes it here and makes the run's namespace
    from it; otherwise (--exec) a throwaway one is made here, and bwrap makes the run's from it. Without the
    sysctl, or where it may not be written, nothing changes (the reads only cost more)."""
    if not entries or not os.path.exists(TCP_CHILD_EHASH):
        return False
    try:
        if not in_new_netns:
            unshare(CLONE_NEWNET)
        with open(TCP_CHILD_EHASH, "w") as fh:
            fh.write(str(entries))
        if in_new_netns:
            unshare(CLONE_NEWNET)
    except OSError:
        return False
    return True


def status_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def join_cgroups(paths: list[str]) -> None:
    for path in paths:
        with open(path, "w") as fh:
            fh.write("0")


def set_rlimits(opts: "Options") -> None:
    wanted = [("RLIMIT_NOFILE", opts.nofile), ("RLIMIT_FSIZE", opts.fsize), ("RLIMIT_CORE", 0),
              ("RLIMIT_CPU", opts.cpu), ("RLIMIT_NPROC", opts.nproc)]
    for name, value in wanted:
        if value is None or not hasattr(resource, name):
            continue
        lim = getattr(resource, name)
        hard = resource.getrlimit(lim)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        # CPU: SIGXCPU at the soft limit, SIGKILL a second later
        resource.setrlimit(lim, (value, value + 1 if name == "RLIMIT_CPU" and hard != value else value))


def _blocked_ancestor(path: str) -> str | None:
    """The outermost ancestor of `path` that a uid other than its owner may not enter, or None."""
    parts = os.path.abspath(path).split("/")[1:-1]
    cur = ""
    for part in parts:
        cur += "/" + part
        if not os.stat(cur).st_mode & 0o001:
            return cur
    return None


def expose(paths: list[str]) -> None:
    blocked: dict[str, list[str]] = {}
    for p in paths:
        anc = _blocked_ancestor(p)
        if anc:
            blocked.setdefault(anc, []).append(p)
    if not blocked:
        return
    unshare(CLONE_NEWNS)
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below ever propagates to the host
    # opened in the new namespace (a bind mount's source must be in the caller's), before anything is covered
    fds = {p: os.open(p, os.O_PATH | os.O_CLOEXEC) for ps in blocked.values() for p in ps}
    for anc, ps in sorted(blocked.items()):
        mount("tmpfs", anc, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64k")
        for p in ps:
            os.makedirs(p, exist_ok=True)
            mount(f"/proc/self/fd/{fds[p]}", p, None, MS_BIND | MS_REC)
    for fd in fds.values():
        os.close(fd)


def enter_userns(tcp_hash: int = 0) -> None:
    """A new user namespace (the caller's uid/gid mapped to themselves) and everything that needs one."""
    uid, gid = os.getuid(), os.getgid()
    unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)
    with open("/proc/self/setgroups", "w") as fh:
        fh.write("deny")
    with open("/proc/self/uid_map", "w") as fh:
        fh.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as fh:
        fh.write(f"{gid} {gid} 1")
    own_tcp_hash(tcp_hash, in_new_netns=True)
    loopback_up()


def private_mounts(work: str | None, tmp_bytes: int | None, program: str | None = None) -> None:
    """In the run's own mount namespace: a /proc that shows only its pid namespace (so not the grader, its
    env or its argv); a small private /tmp and /dev/shm; the submission's copy read-only."""
    try:
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError as exc:  # e.g. a container with a masked /proc: keep going, less private
        sys.stderr.write(f"grader-launch: note: cannot mount a private /proc: {exc}\n")
    if not work or not tmp_bytes:
        return
    # Paths the new /tmp and /dev/shm would hide: the submission's copy, and the interpreter, the venv and
    # injected site dirs when they live there (a CI clone under /tmp, say). Each is bound back read-only.
    keep = [work]
    extra = [sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)),
             *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    if program:  # the interpreter to exec, and its venv (found by pyvenv.cfg; -S hides it from sys.prefix)
        bindir = os.path.dirname(os.path.abspath(program))
        venv = os.path.dirname(bindir)
        extra.append(venv if os.path.isfile(os.path.join(venv, "pyvenv.cfg")) else bindir)
    for p in (os.path.realpath(x) for x in extra):
        if p.startswith(("/tmp/", "/dev/shm/")) and not any(p == k or p.startswith(k + "/") for k in keep):  # noqa: S108
            keep.append(p)
    try:
        fds = [os.open(p, os.O_PATH | os.O_CLOEXEC) for p in keep]
        for d in ("/tmp", "/dev/shm"):  # noqa: S108
            if os.path.isdir(d):
                size = tmp_bytes if d == "/tmp" else 1 << 20  # noqa: S108
                mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={size}")
        for p, fd in zip(keep, fds, strict=True):
            os.makedirs(p, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", p, None, MS_BIND | MS_REC)
            mount(None, p, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
            os.close(fd)
    except OSError as exc:
        sys.stderr.write(f"grader-launch: note: cannot make a private /tmp: {exc}\n")


def drop_privileges(uid: int, gid: int | None) -> None:
    os.setgroups([])
    gid = uid if gid is None else gid
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def exec_submission(opts: "Options", argv: list[str], close_fds: "Iterable[int]" = ()) -> "NoReturn":
    try:
        for fd in close_fds:
            os.close(fd)
        try:
            os.setsid()  # its own session: no terminal, and killpg reaches the whole group
        except OSError:
            pass  # already a session leader (started with start_new_session)
        if opts.cwd:
            os.chdir(opts.cwd)
        if opts.uid is not None:
            drop_privileges(opts.uid, opts.gid)
        os.execv(argv[0], argv)  # noqa: S606 - no shell: an argv we built
    except OSError as exc:
        sys.stderr.write(f"grader-launch: cannot start the submission: {exc}\n")
        os._exit(126)


def serve_socket_request(stub: "socket.socket") -> bool:
    """One request: a byte naming the address family; the reply carries a fresh TCP socket (or an errno)."""
    import socket

    families = {b"4": socket.AF_INET, b"6": socket.AF_INET6}
    try:
        req = stub.recv(16)
    except OSError:
        return False
    if not req:
        return False
    try:
        s = socket.socket(families.get(req[:1], socket.AF_INET), socket.SOCK_STREAM)
    except OSError as exc:
        stub.sendmsg([b"E%d" % (exc.errno or 0)])
        return True
    try:
        socket.send_fds(stub, [b"S"], [s.fileno()])
    finally:
        s.close()
    return True


def init_loop(child: int, stub_fd: int | None = None) -> "NoReturn":
    """pid 1 of the run: reap every orphan, serve socket requests, exit with the submission's status."""
    import select
    import socket

    stub = socket.socket(fileno=stub_fd) if stub_fd is not None else None
    rd, wr = os.pipe()
    os.set_blocking(wr, False)
    signal.set_wakeup_fd(wr)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    watch = [rd] + ([stub] if stub is not None else [])
    while True:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                os._exit(0)
            if pid == 0:
                break
            if pid == child:
                os._exit(status_code(status))
        try:
            ready, _, _ = select.select(watch, [], [], 1.0)
        except InterruptedError:
            continue
        if rd in ready:
            try:
                os.read(rd, 512)
            except BlockingIOError:
                pass
        if stub is not None and stub in ready and not serve_socket_request(stub):
            watch.remove(stub)
            stub.close()
            stub = None


def subreaper_loop(child: int) -> "NoReturn":
    """No namespaces: we are the child subreaper, so orphans of the submission become our children.
    When its main process exits, kill whatever it left behind and reap it all."""
    import time

    status = None
    while status is None:
        pid, st = os.wait()
        if pid == child:
            status = status_code(st)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # until no child is left, not even a zombie
        for pid in _children():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                time.sleep(0.005)
        except ChildProcessError:
            break
    os._exit(status)


def _children() -> list[int]:
    me = str(os.getpid())
    kids: list[int] = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return kids
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == me and fields[0] != "Z":
            kids.append(int(name))
    return kids


FLAGS = ("exec", "netns", "pidns", "userns", "subreaper")
INTS = ("stub-fd", "uid", "gid", "nofile", "fsize", "cpu", "nproc", "tmp-bytes", "tcp-hash")
LISTS = ("cgroup-procs", "expose")
STRINGS = ("cwd",)


class Options:
    # set by __init__ (setattr) and parse_args: the names of FLAGS, INTS, LISTS and STRINGS with "-" as "_"
    exec: bool
    netns: bool
    pidns: bool
    userns: bool
    subreaper: bool
    stub_fd: int | None
    uid: int | None
    gid: int | None
    nofile: int | None
    fsize: int | None
    cpu: int | None
    nproc: int | None
    tmp_bytes: int | None
    tcp_hash: int
    cgroup_procs: list[str]
    expose: list[str]
    cwd: str | None
    argv: list[str]

    def __init__(self) -> None:
        for name in FLAGS:
            setattr(self, name.replace("-", "_"), False)
        for name in INTS + STRINGS:
            setattr(self, name.replace("-", "_"), None)
        for name in LISTS:
            setattr(self, name.replace("-", "_"), [])
        self.tcp_hash = 0
        self.argv = []


def usage_error(message: str) -> "NoReturn":
    sys.stderr.write(f"usage: launch.py [options] -- PROGRAM ARGS...\nlaunch.py: error: {message}\n")
    sys.exit(2)


def parse_args(args: list[str]) -> Options:
    """`--flag`, `--name VALUE` or `--name=VALUE`, then `--` and the program's argv (the grader builds these
    argvs; an unknown option or a bad value is a usage error, exit status 2, as argparse would make it)."""
    opts = Options()
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            opts.argv = args[i:]
            return opts
        if not arg.startswith("--"):
            opts.argv = args[i - 1:]
            return opts
        name, eq, value = arg[2:].partition("=")
        if name in FLAGS and not eq:
            setattr(opts, name, True)
            continue
        if name not in INTS + LISTS + STRINGS:
            usage_error(f"unrecognized argument: {arg}")
        if not eq:
            if i >= len(args):
                usage_error(f"argument --{name}: expected one argument")
            value = args[i]
            i += 1
        key = name.replace("-", "_")
        if name in INTS:
            try:
                setattr(opts, key, int(value))
            except ValueError:
                usage_error(f"argument --{name}: invalid int value: {value!r}")
        elif name in LISTS:
            getattr(opts, key).append(value)
        else:
            setattr(opts, key, value)
    return opts


def main() -> None:
    opts = parse_args(sys.argv[1:])
    argv = opts.argv
    die_with_parent()
    try:
        join_cgroups(opts.cgroup_procs)
        if opts.expose:
            try:
                expose(opts.expose)
            except PermissionError as exc:
                blocked = sorted({a for a in map(_blocked_ancestor, opts.expose) if a})
                raise OSError(exc.errno, f"{', '.join(blocked)} (where the interpreter or the submission lives) "
                                         f"is closed to other users, and opening it for the run needs "
                                         f"CAP_SYS_ADMIN ({exc.strerror}): install Python where every user can "
                                         f"read it (a container's /usr/bin/python3 is)") from None
        if opts.userns:
            if opts.uid is not None:  # started by root: become the unprivileged uid first, then unshare
                drop_privileges(opts.uid, opts.gid)
                opts.uid = opts.gid = None
                die_with_parent()  # a credential change clears it
                libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # and makes /proc/self root's: we write uid_map there
            enter_userns(opts.tcp_hash)
        else:
            flags = (CLONE_NEWNET if opts.netns else 0) | (CLONE_NEWPID if opts.pidns else 0)
            if flags:
                unshare(flags)
            if opts.netns:
                own_tcp_hash(opts.tcp_hash, in_new_netns=True)
                loopback_up()
            elif opts.exec:
                own_tcp_hash(opts.tcp_hash, in_new_netns=False)  # bwrap makes the run's namespace from it
        set_rlimits(opts)
    except OSError as exc:
        sys.stderr.write(f"grader-launch: cannot isolate the submission: {exc}\n")
        os._exit(125)
    if opts.exec:
        try:
            os.execv(argv[0], argv)  # noqa: S606 - no shell: an argv we built
        except OSError as exc:
            sys.stderr.write(f"grader-launch: cannot start {argv[0]}: {exc}\n")
            os._exit(126)
    if opts.subreaper:
        try:
            libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except AttributeError:
            pass
        child = os.fork()
        if child == 0:
            exec_submission(opts, argv)
        subreaper_loop(child)
    if not (opts.pidns or opts.userns):
        exec_submission(opts, argv)
    init = os.fork()
    if init:
        if opts.stub_fd is not None:
            os.close(opts.stub_fd)
        os._exit(status_code(os.waitpid(init, 0)[1]))
    # pid 1 of the new pid namespace
    die_with_parent()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if opts.userns:
        private_mounts(opts.cwd, opts.tmp_bytes, argv[0] if argv else None)
    child = os.fork()
    if child == 0:
        exec_submission(opts, argv, close_fds=[opts.stub_fd] if opts.stub_fd is not None else [])
    init_loop(child, opts.stub_fd)


if __name__ == "__main__":
    main()
