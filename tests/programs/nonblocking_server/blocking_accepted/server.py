import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.setblocking(False)
sk.listen(128)

conn_lst = []
del_lst = []
while True:
    try:
        conn, addr = sk.accept()  # conn is BLOCKING on Linux (it inherits nonblocking mode only on Windows)
        conn_lst.append(conn)
    except BlockingIOError:
        for conn in conn_lst:
            try:
                msg = conn.recv(1024)  # waits here for a silent client: the whole server freezes
                if not msg:
                    conn.close()
                    del_lst.append(conn)
                    continue
                conn.send(msg.upper())
            except BlockingIOError:
                pass
            except ConnectionResetError:
                conn.close()
                del_lst.append(conn)
    for conn in del_lst:
        conn_lst.remove(conn)
    del_lst.clear()
