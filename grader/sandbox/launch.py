"""Trusted launcher that puts a submission in its own namespaces, then execs it.

Runs as `python -I -S launch.py [options] -- PROGRAM ARGS...` (standard library only, no grader imports,
so nothing of the grader's environment leaks in). With --netns/--pidns (root):

    launcher (host pid ns, new net ns) --fork--> init (pid 1 of a new pid ns) --fork--> submission

init reaps orphans and exits when the submission's main process exits; the kernel then kills every
process left in the pid namespace (a double-forked daemon included). Both launcher and init die when
their parent dies (PR_SET_PDEATHSIG), so a killed grader takes the whole tree with it.
"""

import argparse
import ctypes
import fcntl
import os
import resource
import signal
import socket
import struct
import sys

CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
PR_SET_PDEATHSIG = 1
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1

libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent():
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def unshare(flags):
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")


def loopback_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH22x", b"lo", 0))
        flags = struct.unpack("16sH22x", ifr)[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def status_code(status):
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def exec_submission(opts, argv):
    try:
        _exec_submission(opts, argv)
    except OSError as exc:
        sys.stderr.write(f"grader-launch: cannot start the submission: {exc}\n")
        os._exit(126)


def _exec_submission(opts, argv):
    try:
        os.setsid()  # its own session: no terminal, and killpg reaches the whole group
    except OSError:
        pass  # already a session leader (started with start_new_session)
    for name, value in (("RLIMIT_NOFILE", opts.nofile), ("RLIMIT_FSIZE", opts.fsize),
                        ("RLIMIT_CORE", 0), ("RLIMIT_CPU", opts.cpu)):
        if value is not None:
            lim = getattr(resource, name)
            hard = resource.getrlimit(lim)[1]
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(lim, (value, value if name != "RLIMIT_CPU" else value + 1))
    if opts.cwd:
        os.chdir(opts.cwd)
    if opts.uid is not None:
        os.setgroups([])
        os.setgid(opts.gid if opts.gid is not None else opts.uid)
        os.setuid(opts.uid)
    os.execv(argv[0], argv)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--netns", action="store_true")
    p.add_argument("--pidns", action="store_true")
    p.add_argument("--uid", type=int)
    p.add_argument("--gid", type=int)
    p.add_argument("--nofile", type=int)
    p.add_argument("--fsize", type=int)
    p.add_argument("--cpu", type=int)
    p.add_argument("--cwd")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    opts = p.parse_args()
    argv = opts.argv[1:] if opts.argv[:1] == ["--"] else opts.argv
    die_with_parent()
    try:
        flags = (CLONE_NEWNET if opts.netns else 0) | (CLONE_NEWPID if opts.pidns else 0)
        if flags:
            unshare(flags)
        if opts.netns:
            loopback_up()
    except OSError as exc:
        sys.stderr.write(f"grader-launch: cannot isolate the submission: {exc}\n")
        os._exit(125)
    if not opts.pidns:
        exec_submission(opts, argv)
    init = os.fork()
    if init:
        os._exit(status_code(os.waitpid(init, 0)[1]))
    # pid 1 of the new pid namespace
    die_with_parent()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    child = os.fork()
    if child == 0:
        exec_submission(opts, argv)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        if pid == child:
            os._exit(status_code(status))


if __name__ == "__main__":
    main()
