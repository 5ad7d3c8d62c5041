# Attack: escape primitives: new user / network / mount namespaces, mount, chroot, setuid(0), sethostname,
# writing /proc/sys. Then it serves correctly.
# Expected outcome: tier A: every attempt fails (EPERM / EACCES / EROFS; bwrap's --disable-userns forbids
# nested user namespaces); both behaviours pass.
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)


def attempt(what, fn):
    try:
        ret = fn()
        err = ctypes.get_errno() if ret == -1 else 0
    except OSError as exc:
        err = exc.errno
    print("ESCAPE" if not err else "DENIED", what, err)


attempt("unshare user", lambda: libc.unshare(0x10000000))
attempt("unshare net", lambda: libc.unshare(0x40000000))
attempt("unshare mount", lambda: libc.unshare(0x00020000))
attempt("mount tmpfs", lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
attempt("chroot", lambda: libc.chroot(b"/tmp"))
attempt("setuid 0", lambda: libc.setuid(0))
attempt("sethostname", lambda: libc.sethostname(b"pwned", 5))
attempt("write /proc/sys", lambda: open("/proc/sys/kernel/hostname", "w").write("pwned"))
print("done escaping", flush=True)

def serve(reply=bytes.upper, on_data=None):
    """A correct select() echo server on 127.0.0.1:9000 (reply=bytes.lower makes it wrong)."""
    import select
    import socket
    sk = socket.socket()
    sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sk.bind(("127.0.0.1", 9000))
    sk.listen(64)
    conns = [sk]
    while True:
        for s in select.select(conns, [], [])[0]:
            if s is sk:
                conns.append(sk.accept()[0])
                continue
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                conns.remove(s)
                s.close()
                continue
            if on_data:
                on_data(data)
            s.sendall(reply(data))


serve()
