import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
sk.setblocking(False)

conn_lst = []
while True:  # polls every socket again and again: no select, 100% CPU
    try:
        conn, addr = sk.accept()
        conn.setblocking(False)
        conn_lst.append(conn)
    except BlockingIOError:
        pass
    for conn in conn_lst[:]:
        try:
            data = conn.recv(1024)
            if data:
                conn.send(data.upper())
                continue
        except BlockingIOError:
            continue
        except ConnectionResetError:
            pass
        conn_lst.remove(conn)
        conn.close()
