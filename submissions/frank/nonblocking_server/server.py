import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
sk.setblocking(False)
conn_l = []
del_l = []
while True:
    try:
        conn, addr = sk.accept()
        conn.setblocking(False)
        conn_l.append(conn)
    except BlockingIOError:
        for conn in conn_l:
            try:
                data = conn.recv(1024)
                conn.send(data.upper())
            except BlockingIOError:
                pass
            except ConnectionResetError:
                del_l.append(conn)
        for conn in del_l:
            conn_l.remove(conn)
            conn.close()
        del_l = []
