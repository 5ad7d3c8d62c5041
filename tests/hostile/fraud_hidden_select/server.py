# Attack: static-check fraud, graded against the real nonblocking_server assignment (not this folder's spec).
# select is imported under a computed name, so the AST never sees `import select`, and the server waits in
# select() with every socket nonblocking. Before: 14/14 (uses_nonblocking passed on the AST alone).
# Expected outcome: uses_nonblocking fails, naming the runtime evidence ("called `select.select()` at run
# time (server.py:...)"); every network behaviour passes (it is a correct server, just not the exercise).
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
