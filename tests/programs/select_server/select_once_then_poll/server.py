# Calls select.select once at start (so the source "uses select"), then serves with a nonblocking polling
# loop that sleeps between passes (2 ms after work, 200 ms after a quiet pass): it never waits for
# readiness in select.
import select
import socket
import time

select.select([], [], [], 0)

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('127.0.0.1', 9000))
server.listen(100)
server.setblocking(False)
clients = []
while True:
    busy = False
    try:
        conn, addr = server.accept()
        conn.setblocking(False)
        clients.append(conn)
        busy = True
    except BlockingIOError:
        pass
    for c in clients[:]:
        try:
            data = c.recv(4096)
            busy = True
        except BlockingIOError:
            continue
        except ConnectionError:
            data = b''
        if not data:
            clients.remove(c)
            c.close()
            continue
        try:
            c.sendall(data.upper())
        except ConnectionError:
            clients.remove(c)
            c.close()
    time.sleep(0.002 if busy else 0.2)  # a quiet pass: sleep longer
