# A slow but correct nonblocking server: listen(5), one accept per pass, a quarter of a second asleep between
# passes (the program sleeps 0.5 s; uses_nonblocking gives a server 0.5 s to accept, which that races).
# It closes every socket whose client left; it only takes its time.
import socket
import time

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(5)
sk.setblocking(False)

clients = []
while True:
    try:
        conn, addr = sk.accept()
        conn.setblocking(False)
        clients.append(conn)
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
            conn.close()
    time.sleep(0.25)
