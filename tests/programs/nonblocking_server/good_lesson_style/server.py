# The lesson's server, plus conn.setblocking(False) and closing reset connections.
from socket import *

s = socket(AF_INET, SOCK_STREAM)
s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 9000))
s.listen(128)
s.setblocking(False)  # listener: accept() does not wait
conn_l = []
del_l = []
while True:
    try:
        conn, addr = s.accept()
        conn.setblocking(False)  # accepted connection: recv() does not wait either
        conn_l.append(conn)
    except BlockingIOError:
        for conn in conn_l:
            try:
                data = conn.recv(1024)
                if not data:
                    del_l.append(conn)
                    continue
                conn.send(data.upper())
            except BlockingIOError:
                pass
            except ConnectionResetError:
                del_l.append(conn)

        for conn in del_l:
            conn_l.remove(conn)
            conn.close()
        del_l = []
