# The slow listen(5) server of good_slow_listen5 with the leak of never_closes: a leaving client is dropped
# from the list but never closed (the history list keeps it alive). Slow AND leaky: no_leaks must say leak.
import socket
import time

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(5)
sk.setblocking(False)

clients = []
history = []
while True:
    try:
        conn, addr = sk.accept()
        conn.setblocking(False)
        clients.append(conn)
        history.append(conn)
    except BlockingIOError:
        pass
    for conn in clients[:]:
        try:
            msg = conn.recv(1024)
            if msg:
                conn.send(msg.upper())
        except BlockingIOError:
            continue
        except ConnectionError:
            msg = b''
        if not msg:
            clients.remove(conn)
            pass  # forgot conn.close()
    time.sleep(0.25)
