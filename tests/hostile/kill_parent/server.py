# Attack: kill its parent, pid 1 and everything else it may signal (kill(-1)), then serve correctly.
# Expected outcome: tier A/B: the parent is the sandbox's own pid 1, which ignores signals from inside its
# namespace, and kill(-1) reaches nothing outside: the grader, other runs and the good submission graded
# at the same time are unaffected; both behaviours pass. (Never run in tier C: it would kill the grader.)
import os
import signal

for target, how in ((os.getppid(), "parent"), (1, "pid 1"), (-1, "everything")):
    try:
        os.kill(target, signal.SIGKILL)
        print("SIGNALLED", how, target)
    except OSError as exc:
        print("DENIED", how, target, type(exc).__name__, exc.errno)
print("still here", flush=True)

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
