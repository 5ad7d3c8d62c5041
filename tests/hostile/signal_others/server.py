# Attack: find other processes to signal: kill(pid, 0) for every pid up to 100000 (bounded), then serve.
# Expected outcome: tier A/B: it can see and signal only its own namespace (pid 1 = the sandbox's init, and
# itself); both behaviours pass.
import os

reachable = []
for pid in range(1, 100001):
    try:
        os.kill(pid, 0)
        reachable.append(pid)
    except OSError:
        pass
print("REACHABLE", reachable[:50], "self", os.getpid(), flush=True)

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
