# Attack: silence the grader's observer (graded against the real nonblocking_server assignment): close every
# inherited descriptor but 0-2 before importing select under a computed name, so the observer's records of
# the select() calls go nowhere. Expected outcome: uses_nonblocking fails: the kernel's seccomp filter in that
# behaviour's run stops the first select() whatever happened to the channel ("the program made a select/poll/epoll
# system call, and the kernel stopped it there"); a silenced observer never counts as a pass.
import os

os.closerange(3, 65536)
import socket

sel = __import__("sel" + "ect")

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(("127.0.0.1", 9000))
sk.listen(128)
sk.setblocking(False)
conns = []
while True:
    ready = sel.select([sk, *conns], [], [])[0]
    for s in ready:
        if s is sk:
            try:
                conn, _ = sk.accept()
            except BlockingIOError:
                continue
            conn.setblocking(False)
            conns.append(conn)
            continue
        try:
            data = s.recv(4096)
            if data:
                s.sendall(data.upper())
                continue
        except BlockingIOError:
            continue
        except OSError:
            pass
        conns.remove(s)
        s.close()
