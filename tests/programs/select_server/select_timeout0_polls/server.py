# Asks select() with timeout 0 on every pass (so it calls select all the time), then sleeps (2 ms, or
# 200 ms after a quiet pass): it never waits for readiness in select, it polls and sleeps.
import select
import socket
import time

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('127.0.0.1', 9000))
server.listen(100)
rlist = [server]
while True:
    readable, _, _ = select.select(rlist, [], [], 0)
    for s in readable:
        if s is server:
            conn, addr = server.accept()
            rlist.append(conn)
            continue
        try:
            data = s.recv(4096)
            if data:
                s.sendall(data.upper())
        except ConnectionError:
            data = b''
        if not data:
            rlist.remove(s)
            s.close()
    time.sleep(0.002 if readable else 0.2)  # a quiet pass: sleep longer
