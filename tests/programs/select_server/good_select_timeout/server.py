# select with a half-second timeout: wakes twice a second when idle, still near 0% CPU.
import select
import socket

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('127.0.0.1', 9000))
server.listen(100)

rlist = [server]
while True:
    readable, _, _ = select.select(rlist, [], [], 0.5)
    if not readable:
        continue  # timeout, nothing to do
    for s in readable:
        if s == server:
            conn, addr = server.accept()
            rlist.append(conn)
        else:
            try:
                data = s.recv(1024)
                if data:
                    s.send(data.upper())
            except ConnectionResetError:
                data = b''
            if not data:
                rlist.remove(s)
                s.close()
