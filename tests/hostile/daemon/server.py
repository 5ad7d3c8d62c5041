# Attack: a double-forked daemon (fork, setsid, fork) that keeps 127.0.0.1:9000 bound and serving after the
# main process exits, to outlive grading and sit on the port of the next run.
# Expected outcome: tier A/B: the daemon dies with the run's pid namespace (and cgroup) when main exits;
# tier C: the launcher, as the child subreaper, kills it. Both behaviours fail; no process survives; the
# port is free afterwards. (The daemon starts serving only after main has exited: should it survive,
# both behaviours would pass, and the test would say so.)
import os
import sys
import time

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


main = os.getpid()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:  # serve only once main is gone: if the daemon is still alive then, it escaped
            try:
                os.kill(main, 0)
                time.sleep(0.01)
            except OSError:
                break
        serve()
    os._exit(0)
sys.exit(0)
